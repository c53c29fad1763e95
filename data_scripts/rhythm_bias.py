"""A tried-and-rejected rhythm lever (studies/LOG.md, 2026-12-03): per-class decision offsets added to the log
probabilities, chosen on each CV fold's own validation recordings (10% of its training folds) to maximise the
challenge F1, then applied to the held-out fold. It did not move the median AF F1.

    python data_scripts/rhythm_bias.py --runs runs/rhythm-cv [--folds 0,1,2,3,4]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

GRID = np.linspace(-1.5, 1.5, 13)  # offsets of A, O and ~ (N stays 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/rhythm-cv"))
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    from ecgmtl.data.cinc2017 import challenge_f1, index, read_signal
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.rhythm.evaluate import cinc_folder
    from ecgmtl.tasks.rhythm.predict import strip_probabilities
    from ecgmtl.tasks.rhythm.scoring import rhythm_report

    idx = index(cinc_folder(args.data_dir))
    pos = {n: i for i, n in enumerate(idx.names)}
    rows = []
    for k in map(int, args.folds.split(",")):
        run = args.runs / f"multi-fold{k}"
        cache = run / "probs.npz"
        if not cache.is_file():
            m = OnnxModel(run / "model.onnx", "cpu")
            out = {}
            for split in ("val_records", "test_records"):
                pick = [pos[n] for n in m.meta[split]]
                out[split] = np.stack([strip_probabilities(m, *read_signal(idx.headers[i])) for i in pick])
                out[split + "_y"] = idx.labels[pick]
            np.savez(cache, **out)
        d = np.load(cache)
        lv, lt = np.log(d["val_records"] + 1e-9), np.log(d["test_records"] + 1e-9)
        scores = {
            b: challenge_f1(d["val_records_y"], (lv + (0.0, *b)).argmax(1))["challenge_f1"]
            for b in itertools.product(GRID, GRID, GRID)
        }
        best = max(scores, key=lambda b: (scores[b], -np.abs(b).sum()))
        base = rhythm_report(d["test_records_y"], d["test_records"])
        adj = rhythm_report(d["test_records_y"], np.exp(lt + (0.0, *best)))
        rows.append((k, best, base, adj))
        print(
            f"fold {k}: offsets A/O/~ {tuple(round(float(v), 2) for v in best)} (val F1 {scores[best]:.3f}); held out: challenge F1 "
            f"{base['challenge_f1']:.3f} -> {adj['challenge_f1']:.3f}, AF F1 {base['f1']['A']:.3f} -> {adj['f1']['A']:.3f}",
            flush=True,
        )
    for name, get in (("challenge F1", lambda r: r["challenge_f1"]), ("AF F1", lambda r: r["f1"]["A"])):
        before, after = np.median([get(r[2]) for r in rows]), np.median([get(r[3]) for r in rows])
        print(f"median {name}: {before:.3f} -> {after:.3f}")


if __name__ == "__main__":
    main()
