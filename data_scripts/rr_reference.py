"""Which RR reference keeps premature beats premature when they are the majority (issue 14)? No training.

For each RR reference (the mean, or a q-quantile of the record's RR intervals and of the last 50), the previous
RR relative to it is computed at the annotated N and S beats of every DS1 record, as recorded and with its S
stretches joined (ecgmtl/augment/splice.py, the copies of data_scripts/s_majority.py). A reference that serves
both kinds of record gives S and N beats the same values in both: printed are the medians and the AUC of S
against N pooled over both kinds (one threshold must serve both). Then, for the median beat of the template
channel: the share of N beats among the on-time beats (ecgmtl.signal.preprocess.on_time) of each record, as
recorded and spliced. DS1 only.

    python data_scripts/rr_reference.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ecgmtl.augment.splice import splice_s  # noqa: E402
from ecgmtl.data.mitdb import AAMI, DS1  # noqa: E402
from ecgmtl.data.paths import data_root, database_dir  # noqa: E402
from ecgmtl.signal.preprocess import on_time, rr_features  # noqa: E402

FS = 360.0
LOCAL = 50


def beats(db: Path, spliced: bool, min_s: int):
    """(record, N/S labels, annotated samples) of each DS1 record, or of its spliced copy."""
    import wfdb

    for r in DS1:
        ann = wfdb.rdann(str(db / r), "atr")
        keep = np.array([s in AAMI for s in ann.symbol])
        samples, labels = ann.sample[keep], np.array([AAMI[s] for s in np.asarray(ann.symbol)[keep]])
        if spliced:
            if (labels == "S").sum() < min_s:
                continue
            _, samples, labels = splice_s(np.zeros(samples.max() + 1), samples, labels, labels == "S")
        yield r, labels, samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quantiles", default="0,0.5,0.75,0.8,0.85,0.9,0.95", help="0 is the mean")
    ap.add_argument("--min-s", type=int, default=50, help="records spliced: those with this many S beats")
    args = ap.parse_args()
    db = database_dir(data_root(), "mitdb")
    sets = [(spl, lab, smp) for spl in (False, True) for _, lab, smp in beats(db, spl, args.min_s)]
    print("reference | prev/record: S as recorded / spliced, N as recorded / spliced, AUC | prev/local: the same")
    for q in (float(v) for v in args.quantiles.split(",")):
        line = [f"{'mean' if q == 0 else f'q{q:g}':>6}"]
        for col in (3, 6):  # rr_prev_rel, rr_prev_local
            vals, is_s, spl = [], [], []
            for spliced, lab, smp in sets:
                f = rr_features(smp, FS, LOCAL, quantile=q)[:, col]
                m = np.isin(lab, ["N", "S"])
                vals.append(f[m]), is_s.append(lab[m] == "S"), spl.append(np.full(int(m.sum()), spliced))
            v, s, p = np.concatenate(vals), np.concatenate(is_s), np.concatenate(spl)
            med = [np.median(v[s & ~p]), np.median(v[s & p]), np.median(v[~s & ~p]), np.median(v[~s & p])]
            line.append("S {:.2f} / {:.2f}  N {:.2f} / {:.2f}  AUC {:.3f}".format(*med, roc_auc_score(s, -v)))
        print(" | ".join(line))
    print("median beat from | share of N among its beats: as recorded (median, lowest) | spliced (median, lowest)")
    for q in (float(v) for v in args.quantiles.split(",")):
        share = {
            spl: [float((lab[on_time(smp, q)] == "N").mean()) for s2, lab, smp in sets if s2 == spl]
            for spl in (False, True)
        }
        cells = [f"{np.median(share[spl]):.2f}, {np.min(share[spl]):.2f}" for spl in (False, True)]
        print(f"{'all beats' if q == 0 else f'on time q{q:g}':>12} | {cells[0]} | {cells[1]}")


if __name__ == "__main__":
    main()
