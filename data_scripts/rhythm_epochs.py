"""A rhythm-recipe lever measured by cross-validation: the same recipe trained longer (schedule.joint_epochs,
the cosine learning rate stretched to match), each length trained on this machine and paired by fold.

Runs go to runs/rhythm-cv/long<E>-fold<K> (reused when there); the README's 16-epoch fold table
(data_scripts/rhythm_cv.py, another machine) is printed beside them for reference. Runs train in parallel
(--jobs, one core each: configs/cinc2017.yaml sets train.threads 1), the longest first.

    python data_scripts/rhythm_epochs.py --folds 0,1,2 --epochs 16,28 [--jobs 2]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rhythm_cv import ROOT, measure  # noqa: E402


def readme_fold(fold: int) -> tuple[float, float] | None:
    """(challenge F1, AF F1) of a fold in README.md's study:rhythm-cv table."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- study:rhythm-cv -->") : text.index("<!-- /study:rhythm-cv -->")]
    row = re.search(rf"^\| {fold} \| \d+ \| ([0-9.]+) \| ([0-9.]+) \|", block, re.M)
    return (float(row[1]), float(row[2])) if row else None


def train(run: Path, fold: int, epochs: int) -> None:
    if (run / "run.json").is_file():
        return
    cmd = [sys.executable, "-m", "ecgmtl", "train", "--config", str(ROOT / "configs/cinc2017.yaml")]
    cmd += ["--out", str(run), "--no-progress", "--set", f"task_options.test_fold={fold}"]
    cmd += ["--set", f"schedule.joint_epochs={epochs}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs/rhythm-cv")
    ap.add_argument("--folds", default="0,1,2")
    ap.add_argument("--epochs", default="16,28")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    folds = [int(k) for k in args.folds.split(",") if k]
    lengths = [int(e) for e in args.epochs.split(",") if e]
    runs = {(e, k): args.out / f"long{e}-fold{k}" for e in lengths for k in folds}
    order = sorted(runs, key=lambda ek: (ek[1] // args.jobs, -ek[0], ek[1]))  # pairs of folds, longest first
    with ThreadPoolExecutor(args.jobs) as pool:
        for f in [pool.submit(train, runs[ek], ek[1], ek[0]) for ek in order]:
            f.result()
    res = {ek: measure(run) for ek, run in runs.items()}
    head = " | ".join(f"{e} epochs: challenge F1 | F1 A" for e in lengths)
    print(f"| fold | README (16 epochs): challenge F1 | F1 A | {head} |")
    print("|---|---|---|" + "---|---|" * len(lengths))
    for k in folds:
        ref = readme_fold(k)
        cells = " | ".join(f"{res[e, k]['challenge_f1']:.3f} | {res[e, k]['f1']['A']:.3f}" for e in lengths)
        print(f"| {k} | {ref[0]:.3f} | {ref[1]:.3f} | {cells} |" if ref else f"| {k} | | | {cells} |")
    if len(lengths) == 2:
        a, b = lengths
        d = [res[b, k]["challenge_f1"] - res[a, k]["challenge_f1"] for k in folds]
        da = [res[b, k]["f1"]["A"] - res[a, k]["f1"]["A"] for k in folds]
        print(
            f"\n{b} minus {a} epochs, paired by fold ({len(folds)}): challenge F1 {np.mean(d):+.3f} "
            f"(each {', '.join(f'{v:+.3f}' for v in d)}), AF F1 {np.mean(da):+.3f} "
            f"(each {', '.join(f'{v:+.3f}' for v in da)})"
        )


if __name__ == "__main__":
    main()
