"""The beat model at other sampling rates: MIT-BIH records (360 Hz) resampled to other rates (128, 250, 500 Hz
by default: the range of Holter and patch recorders), written as WFDB records without their annotations, and
run through `ecgmtl predict`'s engine (beats detected, quality gate on, 150 ms matching, as data_scripts/
beat_cv.py scores); beside them the records as recorded. Resampling: scipy's polyphase filter (resample_poly),
both leads.

    python data_scripts/rate_stress.py [--model M.onnx] [--records DS2] [--rates 128,250,500] [--readme]

On DS2 this is an evaluation of DS2: only for a frozen model (the shipped one by default), and counted in
studies/LOG.md. --readme writes README.md's results:beats-rates block.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import beat_cv  # noqa: E402
import noise_stress  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def resampled_copies(db: Path, records: list[str], rate: float, dst: Path) -> None:
    """Each record at `rate` Hz under dst (signals only: no .atr), every lead resampled."""
    from scipy.signal import resample_poly

    from ecgmtl.io.record import read_record

    dst.mkdir(parents=True, exist_ok=True)
    for r in records:
        rec = read_record(db / r, annotations=False)
        f = Fraction(rate / rec.fs).limit_denominator(1000)
        x = resample_poly(np.nan_to_num(rec.signal.astype(np.float64)), f.numerator, f.denominator, axis=0)
        noise_stress.write_record(dst / r, rec, x, fs=rec.fs * f.numerator / f.denominator)


def table(rows: dict[str, dict], n_records: int) -> str:
    lines = [
        f"The beat model at other sampling rates ({n_records} records resampled, no `.atr`; beats detected, gate on, "
        "150 ms matching):",
        "",
        "| rate | accuracy | S Se / PPV | V Se / PPV | N called F | unclassified (of V) | beats found |",
        "|---|---|---|---|---|---|---|",
    ]
    for rate, f in rows.items():
        lines.append(
            f"| {rate} | {f['accuracy']:.3f} | {100 * f['S_se']:.1f} / {100 * f['S_ppv']:.1f} | "
            f"{100 * f['V_se']:.1f} / {100 * f['V_ppv']:.1f} | {100 * f['N_as_F']:.2f}% | "
            f"{100 * f['unclassified']:.2f}% ({100 * f['V_unclassified']:.2f}%) | {100 * f['found'] / f['beats']:.2f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    from ecgmtl.data.mitdb import DS1, DS2
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.deploy.models import shipped_model
    from ecgmtl.tasks.registry import get_task

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="beat model (default: the shipped one)")
    ap.add_argument("--records", default="DS2", help="DS1, DS2 or a comma-separated list")
    ap.add_argument("--rates", default="128,250,500")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", type=Path, default=ROOT / "runs" / "rate-stress.json")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md (results:beats-rates)")
    args = ap.parse_args()
    if args.readme:
        from ecgmtl.readme import readme_block

        readme_block(ROOT / "README.md", "results:beats-rates")
    db = database_dir(data_root(args.data_dir), "mitdb")
    records = {"DS1": list(DS1), "DS2": list(DS2)}.get(args.records) or args.records.split(",")
    model = args.model or shipped_model(get_task("beats"))
    rows = {"360 Hz (as recorded)": beat_cv.figures(beat_cv.score(model, db, records))}
    for rate in (float(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory() as d:
            resampled_copies(db, records, rate, Path(d))
            rows[f"{rate:g} Hz"] = beat_cv.figures(beat_cv.score(model, db, records, Path(d)))
        print(f"{rate:g} Hz: accuracy {rows[f'{rate:g} Hz']['accuracy']:.3f}", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": str(model), "records": records, "rows": rows}, indent=1))
    body = table(rows, len(records))
    print(body)
    if args.readme:
        from ecgmtl.readme import update_readme

        cmd = "python data_scripts/rate_stress.py" + (f" --records {args.records}" if args.records != "DS2" else "")
        update_readme(ROOT / "README.md", "results:beats-rates", f"{body}\n\nReproduce: `{cmd} --readme`.")


if __name__ == "__main__":
    main()
