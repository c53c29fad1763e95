"""The rhythm model across databases: MIT-BIH's seven records with atrial fibrillation (201, 202, 203, 210, 219,
221, 222), lead MLII at 360 Hz, none of them seen in training (CinC 2017, AliveCor, 300 Hz).

Reference AF: the `(AFIB` rhythm notes of the .atr files (atrial flutter, `(AFL`, is not AF here); beside it,
the AF-or-flutter reference (`(AFIB` and `(AFL`), what a Holter report counts as "AF/flutter". ecgmtl's AF: the
windows `ecgmtl predict` labels A, joined into episodes. Per record the AF burden of both; pooled, EC57's episode
and duration sensitivity and positive predictivity (ecgmtl.episodes), against each reference. With several models
(the CV fold models), the median and range over them.

    python data_scripts/rhythm_mitdb.py [--models runs/rhythm-cv/multi-fold*/model.onnx] [--readme]

--readme writes README.md's results:rhythm-mitdb block (the fold models given with --models), or without
--models its results:rhythm-mitdb-shipped block (the shipped model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AF_RECORDS = ("201", "202", "203", "210", "219", "221", "222")
REFERENCES = {"AF": ("(AFIB",), "AF or flutter": ("(AFIB", "(AFL")}


def score_model(path: Path, db: Path) -> dict:
    import wfdb

    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.episodes import episode_scores, pooled, rhythm_episodes
    from ecgmtl.tasks.rhythm.predict import af_episodes, rhythm_timeline

    model = OnnxModel(path, "cpu")
    rows: dict[str, dict] = {ref: {} for ref in REFERENCES}
    for name in AF_RECORDS:
        ann = wfdb.rdann(str(db / name), "atr")
        t = rhythm_timeline(model, db / name, "MLII")
        n, fs = t["source"].n_samples, t["source"].fs
        found = [
            (int(e["start_s"] * fs), min(n, int(e["end_s"] * fs)))
            for e in af_episodes(t, model.meta["classes"])["episodes"]
        ]
        for ref, notes in REFERENCES.items():
            rows[ref][name] = episode_scores(rhythm_episodes(ann.sample, ann.aux_note, n, notes), found, n)
    first = rows["AF"]
    return {
        "model": model.name,
        "records": first,
        "pooled": pooled(list(first.values())),
        "flutter": {"records": rows["AF or flutter"], "pooled": pooled(list(rows["AF or flutter"].values()))},
    }


def table(results: list[dict]) -> str:
    def mr(v):
        v = [x for x in v if x is not None]
        if not v:
            return "-"
        return f"{100 * np.median(v):.1f}" + (f" [{100 * min(v):.1f}, {100 * max(v):.1f}]" if len(v) > 1 else "")

    lines = [
        f"AF burden (%) on MIT-BIH's AF records, lead MLII, {len(results)} model(s) (median [min, max]):",
        "",
        "| record | reference AF | ecgmtl | within 10 points | reference AF or flutter | within 10 points |",
        "|---|---|---|---|---|---|",
    ]
    for name in AF_RECORDS:
        ref = results[0]["records"][name]["ref_burden"]
        ref_fl = results[0]["flutter"]["records"][name]["ref_burden"]
        found = [r["records"][name]["found_burden"] for r in results]
        ok = sum(abs(f - ref) <= 0.10 for f in found)
        ok_fl = sum(abs(f - ref_fl) <= 0.10 for f in found)
        row = f"| {name} | {100 * ref:.1f} | {mr(found)} | {ok} of {len(found)} | {100 * ref_fl:.1f} | {ok_fl} of {len(found)} |"
        lines.append(row)
    lines += [
        "",
        "| pooled (gross), against | episode Se | episode PPV | duration Se | duration PPV |",
        "|---|---|---|---|---|",
    ]
    keys = ("episode_se", "episode_ppv", "duration_se", "duration_ppv")
    for label, get in (("AF", lambda r: r["pooled"]), ("AF or flutter", lambda r: r["flutter"]["pooled"])):
        lines.append(f"| {label} | " + " | ".join(mr([get(r)[k] for r in results]) for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.deploy.models import shipped_model
    from ecgmtl.tasks.registry import get_task

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", type=Path, help="ONNX rhythm models (default: the shipped one)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", type=Path, default=ROOT / "runs/rhythm-mitdb.json")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md (see above)")
    args = ap.parse_args()
    block = "results:rhythm-mitdb" if args.models else "results:rhythm-mitdb-shipped"
    if args.readme:
        from ecgmtl.readme import readme_block

        readme_block(ROOT / "README.md", block)
    db = database_dir(data_root(args.data_dir), "mitdb")
    models = args.models or [shipped_model(get_task("rhythm"))]
    results = [score_model(m, db) for m in models]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    body = table(results)
    print(body)
    if args.readme:
        from ecgmtl.readme import update_readme

        cmd = "python data_scripts/rhythm_mitdb.py" + (
            " --models runs/rhythm-cv/multi-fold*/model.onnx" if args.models else ""
        )
        update_readme(ROOT / "README.md", block, f"{body}\n\nReproduce: `{cmd} --readme`.")


if __name__ == "__main__":
    main()
