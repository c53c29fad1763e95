"""A DS1-side stress test for records whose S beats are the majority (issue 14), for choosing beat recipes.

DS2's S figures are decided by one record (232) whose S beats outnumber its N beats, so that neither the
record's mean RR nor its median beat marks them out; DS1 has no such record, so DS1 cross-validation cannot see
that failure. This builds one from each held-out DS1 record with S beats: its S stretches joined
(ecgmtl/augment/splice.py: every S beat with the beat before it and both of its RR intervals, S runs whole), so
that S beats are a half or more of its beats and the record-level references move towards them, as in 232.
Each CV fold's model then predicts its held-out records, spliced and as recorded, as
a user runs `ecgmtl predict` (beats detected, gate on, 150 ms matching), and the two are printed side by side.

    python data_scripts/s_majority.py --runs kept-seed0,local50-seed0      # CV runs of data_scripts/beat_cv.py
    python data_scripts/s_majority.py --runs ema995-seed0 --min-s 20 --json runs/cv/s_majority.json

Only DS1 records and each fold's own held-out records: no DS2 record is read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from beat_cv import N_FOLDS, folds  # noqa: E402
from noise_stress import write_record  # noqa: E402

from ecgmtl.augment.splice import splice_s  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def counts_of(model, path: Path, ref: np.ndarray, ref_c: np.ndarray, fs: float) -> dict[str, int]:
    """The record's reference beats, those given their class, and per class S and V: the reference beats,
    those found as that class, and the reference beats called that class (150 ms matching)."""
    from ecgmtl.metrics import match_beats
    from ecgmtl.tasks.beats.engine import run_beats

    run = run_beats(model, path)
    labels = np.array(run.table.labels(run.classes), dtype=object)
    j, ok = match_beats(ref, run.table.samples, int(0.15 * fs))
    got = np.where(ok, labels[j], "missed") if len(labels) else np.full(len(ref), "missed", dtype=object)
    out = {"beats": len(ref), "correct": int((got == ref_c).sum())}
    for c in "SV":
        out[c] = int((ref_c == c).sum())
        out[f"{c}_tp"] = int(((ref_c == c) & (got == c)).sum())
        out[f"{c}_called"] = int((got == c).sum())
    return out


def figures(c: dict[str, int]) -> dict[str, float]:
    return {
        "beats": c["beats"],
        "S_share": c["S"] / max(c["beats"], 1),
        "accuracy": c["correct"] / max(c["beats"], 1),
        **{f"{k}_se": c[f"{k}_tp"] / max(c[k], 1) for k in "SV"},
        **{f"{k}_ppv": c[f"{k}_tp"] / max(c[f"{k}_called"], 1) for k in "SV"},
    }


def run_cv(name: str, db: Path, min_s: int) -> dict:
    """Each fold's model of CV run `name` on its held-out records with at least min_s S beats, spliced and
    as recorded; pooled counts and per-record S figures."""
    from ecgmtl.data.mitdb import AAMI, DS1, class_counts
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.io.record import read_record

    counts = class_counts(db, list(DS1))
    pooled = {"spliced": {}, "recorded": {}}
    per_record = {}
    with tempfile.TemporaryDirectory() as d:
        for k, test in enumerate(folds(counts, N_FOLDS)):
            model = OnnxModel(ROOT / "runs" / "cv" / name / f"fold{k}" / "model.onnx", device="cpu")
            for r in test:
                if counts[r]["S"] < min_s:
                    continue
                rec = read_record(db / r)
                keep = np.isin(rec.annotation.symbol, [s for s, c in AAMI.items() if c != "Q"])
                peaks = rec.annotation.sample[keep]
                classes = np.array([AAMI[s] for s in np.asarray(rec.annotation.symbol)[keep]], dtype=object)
                sig, ref, ref_c = splice_s(rec.signal, peaks, classes, classes == "S")
                write_record(Path(d) / f"{r}s", rec, sig)
                per_record[r] = {}
                for kind, path, rr, cc in (
                    ("spliced", Path(d) / f"{r}s", ref, ref_c),
                    ("recorded", db / r, peaks, classes),
                ):
                    c = counts_of(model, path, rr, cc, rec.fs)
                    per_record[r][kind] = figures(c)
                    for key, v in c.items():
                        pooled[kind][key] = pooled[kind].get(key, 0) + v
    return {"pooled": {k: figures(v) for k, v in pooled.items()}, "per_record": per_record}


def table(results: dict[str, dict]) -> str:
    lines = [
        "| CV run | records | as recorded: S share, accuracy (of all beats), S Se / PPV, V Se / PPV | spliced (S the majority): "
        "S share, accuracy, S Se / PPV, V Se / PPV |",
        "|---|---:|---|---|",
    ]
    for name, res in results.items():
        cells = []
        for kind in ("recorded", "spliced"):
            f = res["pooled"][kind]
            cells.append(
                f"{100 * f['S_share']:.0f}%, {f['accuracy']:.3f}, {100 * f['S_se']:.1f} / {100 * f['S_ppv']:.1f}, "
                f"{100 * f['V_se']:.1f} / {100 * f['V_ppv']:.1f}"
            )
        lines.append(f"| {name} | {len(res['per_record'])} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main() -> None:
    from ecgmtl.data.paths import data_root, database_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True, help="comma-separated CV runs under runs/cv (data_scripts/beat_cv.py)")
    ap.add_argument("--min-s", type=int, default=50, help="held-out records with at least this many S beats")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    names = [n for n in args.runs.split(",") if n]
    missing = [n for n in names if not (ROOT / "runs" / "cv" / n / f"fold{N_FOLDS - 1}" / "model.onnx").is_file()]
    if missing:
        sys.exit(f"error: no finished CV run {', '.join(missing)} under runs/cv (run data_scripts/beat_cv.py first)")
    db = database_dir(data_root(), "mitdb")
    results = {n: run_cv(n, db, args.min_s) for n in names}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(table(results))
    for n, res in results.items():
        rows = ", ".join(
            f"{r} {100 * v['spliced']['S_share']:.0f}% S: {100 * v['recorded']['S_se']:.0f} -> {100 * v['spliced']['S_se']:.0f}"
            for r, v in sorted(res["per_record"].items())
        )
        print(f"{n}, S Se per record (as recorded -> spliced): {rows}")


if __name__ == "__main__":
    main()
