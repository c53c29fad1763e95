"""A rhythm-recipe lever measured by cross-validation: the same recipe trained longer (schedule.joint_epochs,
the cosine learning rate stretched to match), each length trained on this machine and paired by fold.

Runs go to runs/rhythm-cv/long<E>-fold<K> (reused when there) and train in parallel (--jobs, one core each:
configs/cinc2017.yaml sets train.threads 1), the longest first. Compare lengths trained on one machine only:
the same recipe moves by up to 2 points of AF F1 from one CPU to another (studies/LOG.md).

    python data_scripts/rhythm_epochs.py --folds 0,1,2 --epochs 16,28 [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rhythm_cv import ROOT, measure, train_run  # noqa: E402


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
        jobs = [pool.submit(train_run, runs[e, k], k, ["--set", f"schedule.joint_epochs={e}"]) for e, k in order]
        for f in jobs:
            f.result()
    res = {ek: measure(run) for ek, run in runs.items()}
    head = " | ".join(f"{e} epochs: challenge F1 | F1 A" for e in lengths)
    print(f"| fold | {head} |")
    print("|---|" + "---|---|" * len(lengths))
    for k in folds:
        cells = " | ".join(f"{res[e, k]['challenge_f1']:.3f} | {res[e, k]['f1']['A']:.3f}" for e in lengths)
        print(f"| {k} | {cells} |")
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
