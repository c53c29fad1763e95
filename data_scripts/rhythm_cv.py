"""The rhythm recipe's stratified 5-fold cross-validation on the CinC 2017 recordings, and its multi-task question.

Each fold K is held out of training altogether (`--set task_options.test_fold=K`; the checkpoint is chosen on
10% of the other folds), exported, and scored on fold K through the ONNX model as `ecgmtl evaluate --split test`
scores it. The multi-task question: the same recipe with the reconstruction weight 0 (the rhythm head alone;
same data, corruption, epochs and batches) on the first three folds, paired by fold, one seed (--seed, 0 by default).

    python data_scripts/rhythm_cv.py --out runs/rhythm-cv [--folds 0,1,2,3,4] [--single 0,1,2] [--seed S] [--readme]

Each seed's table has its own README block (study:rhythm-cv for seed 0, study:rhythm-cv-seedS for seed S).
Runs already trained under --out are reused (runs/rhythm-cv/<variant>-fold<K>, or <variant>-fold<K>-seed<S> for a
seed other than 0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"multi": [], "single": ["--set", "weighting.weights.reconstruction=0"]}


def train(out: Path, variant: str, fold: int, seed: int = 0) -> Path:
    name = f"{variant}-fold{fold}" + (f"-seed{seed}" if seed else "")
    return train_run(out / name, fold, VARIANTS[variant], seed)


def train_run(run: Path, fold: int, extra: list[str], seed: int = 0) -> Path:
    """The recipe with fold `fold` held out, seed `seed` and the --set overrides `extra`, trained into `run`
    (kept when already there)."""
    if not (run / "run.json").is_file():
        cmd = [sys.executable, "-m", "ecgmtl", "train", "--config", str(ROOT / "configs/cinc2017.yaml"), "--out"]
        cmd += [str(run), "--no-progress", "--seed", str(seed), "--set", f"task_options.test_fold={fold}", *extra]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return run


def measure(run: Path) -> dict:
    from ecgmtl.deploy.onnx import export_onnx
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.rhythm.evaluate import evaluate_rhythm

    measured = run / "measured.json"
    if measured.is_file():
        return json.loads(measured.read_text())
    onnx = run / "model.onnx"
    if not onnx.is_file():
        export_onnx(run, onnx, name=f"cinc2017-rhythm-{run.name}")
    rep = evaluate_rhythm(OnnxModel(onnx, "cpu"), "test", None)
    measured.write_text(json.dumps(rep, indent=1))
    return rep


def summary(reps: list[dict]) -> dict:
    def mr(v):
        return {"median": float(np.median(v)), "min": float(np.min(v)), "max": float(np.max(v))}

    out = {"challenge_f1": mr([r["challenge_f1"] for r in reps])}
    for c in ("N", "A", "O", "~"):
        out[f"f1_{c}"] = mr([r["f1"][c] for r in reps])
    return out


def table(multi: dict[int, dict], single: dict[int, dict], seed: int = 0) -> str:
    s = summary(list(multi.values()))
    fmt = lambda m: f"{m['median']:.3f} [{m['min']:.3f}, {m['max']:.3f}]"  # noqa: E731
    lines = [
        f"Stratified 5-fold cross-validation on the CinC 2017 recordings at hand ({len(multi)} of the 5 folds, "
        f"{sum(r['records'] for r in multi.values())} recordings held out), each fold scored through its ONNX "
        f"model (median [min, max] over the folds, seed {seed}):",
        "",
        "| | challenge F1 (N, A, O) | F1 N | F1 A (AF) | F1 O | F1 ~ |",
        "|---|---|---|---|---|---|",
        f"| multi-task (rhythm + denoising reconstruction) | {fmt(s['challenge_f1'])} | {fmt(s['f1_N'])} | "
        f"{fmt(s['f1_A'])} | {fmt(s['f1_O'])} | {fmt(s['f1_~'])} |",
        "",
        "| fold | recordings | challenge F1 | F1 A |" + (" rhythm alone: challenge F1 | F1 A |" if single else ""),
        "|---|---|---|---|" + ("---|---|" if single else ""),
    ]
    for k, r in sorted(multi.items()):
        row = f"| {k} | {r['records']} | {r['challenge_f1']:.3f} | {r['f1']['A']:.3f} |"
        if single:
            o = single.get(k)
            row += f" {o['challenge_f1']:.3f} | {o['f1']['A']:.3f} |" if o else " | |"
        lines.append(row)
    paired = [k for k in single if k in multi]
    if paired:
        d = np.array([multi[k]["challenge_f1"] - single[k]["challenge_f1"] for k in paired])
        da = np.array([multi[k]["f1"]["A"] - single[k]["f1"]["A"] for k in paired])
        lines += [
            "",
            f"Multi-task minus rhythm alone, paired by fold ({len(paired)} folds): challenge F1 "
            f"{d.mean():+.3f} ± {d.std(ddof=1) if len(d) > 1 else 0:.3f} (multi-task better in {int((d > 0).sum())} "
            f"of {len(d)}), AF F1 {da.mean():+.3f} ± {da.std(ddof=1) if len(da) > 1 else 0:.3f}.",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs/rhythm-cv")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--single", default="0,1,2", help="folds for the rhythm-alone runs ('' for none)")
    ap.add_argument("--seed", type=int, default=0, help="the training seed of every run")
    ap.add_argument(
        "--readme", action="store_true", help="write the table into README.md (study:rhythm-cv, or -seedS for seed S)"
    )
    args = ap.parse_args()
    marker = "study:rhythm-cv" + (f"-seed{args.seed}" if args.seed else "")
    if args.readme:
        from ecgmtl.errors import ConfigError
        from ecgmtl.readme import readme_block

        try:
            readme_block(ROOT / "README.md", marker)
        except ConfigError as e:  # before hours of training: one line, exit 1
            sys.exit(f"error: {e}")
    folds = [int(k) for k in args.folds.split(",") if k]
    single_folds = [int(k) for k in args.single.split(",") if k]
    multi = {k: measure(train(args.out, "multi", k, args.seed)) for k in folds}
    single = {k: measure(train(args.out, "single", k, args.seed)) for k in single_folds}
    body = table(multi, single, args.seed)
    (args.out / ("summary.json" if not args.seed else f"summary-seed{args.seed}.json")).write_text(
        json.dumps({"multi": summary(list(multi.values()))}, indent=1)
    )
    print(body)
    if args.readme:
        from ecgmtl.readme import update_readme

        cmd = "python data_scripts/rhythm_cv.py --readme"
        if args.seed:
            cmd += f" --seed {args.seed}"
        if args.folds != "0,1,2,3,4":
            cmd += f" --folds {args.folds}"
        if args.single != "0,1,2":
            cmd += f" --single '{args.single}'"
        took = "about 28 min per run on one core"
        update_readme(ROOT / "README.md", marker, f"{body}\n\nReproduce: `{cmd}` ({took}).")


if __name__ == "__main__":
    main()
