"""The Holter report from ecgmtl's beats against the same report from the reference beats (.atr, AAMI classes).

    python data_scripts/holter_validate.py                    # DS2, the Markdown table on stdout
    python data_scripts/holter_validate.py --records all      # the 44 non-paced records
    python data_scripts/holter_validate.py --json out.json

Per record: V and S beats, couplets, runs of 3 or more and pauses over 2 s counted both ways; run and pause
detection sensitivity and positive predictivity (an event matches when it overlaps one of the other side);
mean, minimum and maximum heart rate; SDNN and RMSSD. ecgmtl's side is `ecgmtl holter` (beats detected on the
record without its annotations, the quality gate on, its failed segments excluded); the reference side takes
every annotated beat and excludes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgmtl.data.mitdb import AAMI, DS1, DS2, PACED  # noqa: E402
from ecgmtl.data.paths import data_root, database_dir  # noqa: E402
from ecgmtl.deploy.models import default_model_path  # noqa: E402
from ecgmtl.deploy.runtime import OnnxModel  # noqa: E402
from ecgmtl.holter.events import summarise  # noqa: E402
from ecgmtl.holter.hrv import time_domain  # noqa: E402
from ecgmtl.holter.report import holter_report  # noqa: E402
from ecgmtl.io.record import read_record  # noqa: E402


def reference(db: Path, name: str, exclude=None) -> dict:
    """The report's figures from the annotated beats; `exclude`: stretches (start_s, end_s) left out, as the
    report leaves out the segments its quality gate failed."""
    rec = read_record(db / name)
    keep = [i for i, s in enumerate(rec.annotation.symbol) if s in AAMI]
    times = rec.annotation.sample[keep] / rec.fs
    labels = [AAMI[rec.annotation.symbol[i]] for i in keep]
    return {**summarise(times, labels, exclude=exclude), "hrv": time_domain(times, labels, exclude=exclude)}


def matched(a: list[dict], b: list[dict], start: str, end: str) -> int:
    """Events of `a` that overlap an event of `b` (intervals [start, end])."""
    if not a or not b:
        return 0
    b0 = np.array([e[start] for e in b])
    b1 = np.array([e[end] for e in b])
    return sum(bool(np.any((b0 <= e[end]) & (b1 >= e[start]))) for e in a)


def pause_events(part: dict) -> list[dict]:
    return [{"start_s": e["start_s"], "end_s": e["start_s"] + e["duration_s"]} for e in part["pauses"]["events"]]


def compare(ref: dict, got: dict) -> dict:
    row = {}
    for k, side in (("V", "ventricular"), ("S", "supraventricular")):
        row[f"{k}_beats"] = (ref[side]["beats"], got[side]["beats"])
        row[f"{k}_couplets"] = (ref[side]["couplets"], got[side]["couplets"])
        row[f"{k}_runs"] = (ref[side]["run_count"], got[side]["run_count"])
    rp, gp = pause_events(ref), pause_events(got)
    row["pauses"] = (len(rp), len(gp))
    row["pause_tp_ref"], row["pause_tp_got"] = matched(rp, gp, "start_s", "end_s"), matched(gp, rp, "start_s", "end_s")
    rv, gv = ref["ventricular"]["runs"], got["ventricular"]["runs"]
    row["vrun_tp_ref"], row["vrun_tp_got"] = matched(rv, gv, "start_s", "end_s"), matched(gv, rv, "start_s", "end_s")
    for k in ("mean_bpm", "min_bpm", "max_bpm"):
        row[k] = (ref["heart_rate"][k], got["heart_rate"][k])
    for k in ("sdnn_ms", "rmssd_ms"):
        row[k] = (ref["hrv"][k], got["hrv"][k])
    return row


def ratio(num: int, den: int) -> str:
    return "-" if den == 0 else f"{100 * num / den:.1f}"


def table(rows: dict[str, dict]) -> str:
    def f(x) -> str:
        return "-" if x is None else (f"{x:.0f}" if isinstance(x, float) else str(x))

    head = (
        "| record | V beats ref/ecgmtl | V couplets | V runs | S beats | S runs | pauses > 2 s | mean HR | "
        "min HR | max HR | SDNN ms | RMSSD ms |"
    )
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows.items():
        cells = [
            f"{f(a)} / {f(b)}"
            for a, b in (
                r["V_beats"],
                r["V_couplets"],
                r["V_runs"],
                r["S_beats"],
                r["S_runs"],
                r["pauses"],
                r["mean_bpm"],
                r["min_bpm"],
                r["max_bpm"],
                r["sdnn_ms"],
                r["rmssd_ms"],
            )
        ]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    tot = {k: sum(r[k] for r in rows.values()) for k in ("pause_tp_ref", "pause_tp_got", "vrun_tp_ref", "vrun_tp_got")}
    n_p = [sum(r["pauses"][i] for r in rows.values()) for i in (0, 1)]
    n_v = [sum(r["V_runs"][i] for r in rows.values()) for i in (0, 1)]
    hr = [abs(r["mean_bpm"][0] - r["mean_bpm"][1]) for r in rows.values() if None not in r["mean_bpm"]]
    out.append("")
    out.append(
        f"Pooled over {len(rows)} records: pauses > 2 s Se {ratio(tot['pause_tp_ref'], n_p[0])}% "
        f"(of {n_p[0]}), PPV {ratio(tot['pause_tp_got'], n_p[1])}% (of {n_p[1]}); V runs of 3 or more Se "
        f"{ratio(tot['vrun_tp_ref'], n_v[0])}% (of {n_v[0]}), PPV {ratio(tot['vrun_tp_got'], n_v[1])}% (of {n_v[1]}); "
        f"mean heart rate |difference| median {np.median(hr):.2f} bpm, max {max(hr):.2f} bpm "
        f"({sum(h <= 1.0 for h in hr)} of {len(hr)} records within 1 bpm)."
    )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", default="DS2", help="DS2, DS1, all (the 44 non-paced) or a comma-separated list")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    names = {"DS2": DS2, "DS1": DS1, "all": sorted(DS1 + DS2)}.get(args.records) or args.records.split(",")
    names = [n for n in names if n not in PACED]
    db = database_dir(data_root(args.data_dir), "mitdb")
    model = OnnxModel(args.model or default_model_path(), device="cpu")
    rows = {}
    for name in names:
        got, _ = holter_report(model, db / name)
        rows[name] = compare(reference(db, name), got)
        print(f"{name} done", file=sys.stderr)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
