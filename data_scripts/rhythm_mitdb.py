"""The rhythm model across databases: MIT-BIH's seven records with atrial fibrillation (201, 202, 203, 210, 219,
221, 222), lead MLII at 360 Hz, none of them seen in training (CinC 2017, AliveCor, 300 Hz).

Reference AF: the `(AFIB` rhythm notes of the .atr files (atrial flutter, `(AFL`, is not AF here). ecgmtl's AF:
the windows `ecgmtl predict` labels A, joined into episodes. Per record the AF burden of both; pooled, EC57's
episode and duration sensitivity and positive predictivity (ecgmtl.episodes). With several models (the CV fold
models), the median and range over them.

    python data_scripts/rhythm_mitdb.py [--models runs/rhythm-cv/multi-fold*/model.onnx] [--readme]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AF_RECORDS = ("201", "202", "203", "210", "219", "221", "222")


def score_model(path: Path, db: Path) -> dict:
    import wfdb

    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.episodes import episode_scores, pooled, rhythm_episodes
    from ecgmtl.tasks.rhythm.predict import af_episodes, rhythm_timeline

    model = OnnxModel(path, "cpu")
    rows = {}
    for name in AF_RECORDS:
        ann = wfdb.rdann(str(db / name), "atr")
        t = rhythm_timeline(model, db / name, "MLII")
        n, fs = t["source"].n_samples, t["source"].fs
        ref = rhythm_episodes(ann.sample, ann.aux_note, n)
        found = [
            (int(e["start_s"] * fs), min(n, int(e["end_s"] * fs)))
            for e in af_episodes(t, model.meta["classes"])["episodes"]
        ]
        rows[name] = episode_scores(ref, found, n)
    return {"model": model.name, "records": rows, "pooled": pooled(list(rows.values()))}


def table(results: list[dict]) -> str:
    def mr(v):
        v = [x for x in v if x is not None]
        if not v:
            return "-"
        return f"{100 * np.median(v):.1f}" + (f" [{100 * min(v):.1f}, {100 * max(v):.1f}]" if len(v) > 1 else "")

    lines = [
        f"AF burden (%) on MIT-BIH's AF records, lead MLII, {len(results)} model(s) (median [min, max]):",
        "",
        "| record | reference | ecgmtl | within 10 points |",
        "|---|---|---|---|",
    ]
    for name in AF_RECORDS:
        ref = results[0]["records"][name]["ref_burden"]
        found = [r["records"][name]["found_burden"] for r in results]
        ok = sum(abs(f - ref) <= 0.10 for f in found)
        lines.append(f"| {name} | {100 * ref:.1f} | {mr(found)} | {ok} of {len(found)} |")
    lines += ["", "| pooled (gross) | episode Se | episode PPV | duration Se | duration PPV |", "|---|---|---|---|---|"]
    keys = ("episode_se", "episode_ppv", "duration_se", "duration_ppv")
    lines.append("| ecgmtl | " + " | ".join(mr([r["pooled"][k] for r in results]) for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.deploy.models import shipped_model
    from ecgmtl.tasks.registry import get_task

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", type=Path, help="ONNX rhythm models (default: the shipped one)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", type=Path, default=ROOT / "runs/rhythm-mitdb.json")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md (results:rhythm-mitdb)")
    args = ap.parse_args()
    if args.readme:
        from ecgmtl.readme import readme_block

        readme_block(ROOT / "README.md", "results:rhythm-mitdb")
    db = database_dir(data_root(args.data_dir), "mitdb")
    models = args.models or [shipped_model(get_task("rhythm"))]
    results = [score_model(m, db) for m in models]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    body = table(results)
    print(body)
    if args.readme:
        from ecgmtl.readme import update_readme

        cmd = "python data_scripts/rhythm_mitdb.py --models runs/rhythm-cv/multi-fold*/model.onnx --readme"
        update_readme(ROOT / "README.md", "results:rhythm-mitdb", f"{body}\n\nReproduce: `{cmd}`.")


if __name__ == "__main__":
    main()
