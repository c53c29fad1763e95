"""Rhythm scores: a recording's probabilities from its windows', and the challenge's F1 (numpy only)."""

from __future__ import annotations

import numpy as np

from ecgmtl.data.cinc2017 import CLASSES


def record_probabilities(p: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """The mean of the window probabilities p (windows, classes) of each of n recordings (owner: window ->
    recording); (n, classes)."""
    out = np.zeros((n, p.shape[1]), np.float64)
    np.add.at(out, owner, p)
    return out / np.maximum(np.bincount(owner, minlength=n), 1)[:, None]


def rhythm_report(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Challenge F1 (mean of N, A, O), per-class F1, accuracy and the confusion matrix (rows: reference)."""
    from sklearn.metrics import confusion_matrix

    from ecgmtl.data.cinc2017 import challenge_f1

    pred = probs.argmax(axis=1)
    f1 = challenge_f1(labels, pred)
    return {
        "challenge_f1": f1["challenge_f1"],
        "f1": f1["per_class_f1"],
        "accuracy": float(np.mean(pred == labels)) if len(labels) else 0.0,
        "confusion": confusion_matrix(labels, pred, labels=list(range(len(CLASSES)))).tolist(),
        "records": int(len(labels)),
    }


def validation_report(
    p: np.ndarray, recon: np.ndarray, owner: np.ndarray, labels: np.ndarray, target: np.ndarray, meta: dict
) -> dict:
    """rhythm_report of the recordings, the reconstruction's PRD against the clean windows and the hard
    constraints' violation rates (what the training loop logs)."""
    from ecgmtl.metrics import constraint_report, prd

    rep = rhythm_report(labels, record_probabilities(p, owner, len(labels)))
    rep["prd"] = prd(target[:, 0], recon[:, 0])
    rep["constraints"] = [c["violation_rate"] for c in constraint_report(p, recon, meta["constraints"])]
    rep["per_class"] = {c: {"f1": rep["f1"][c]} for c in CLASSES}
    return rep
