"""Restoration figures, as DOMAIN.md defines them: SNR (dB) of an estimate against the clean reference, its
improvement over the input, PRD (the mean-removed form) and RMSE (mV); and the S/V macro AUC."""

from __future__ import annotations

import numpy as np


def snr_db(clean: np.ndarray, estimate: np.ndarray, axis=None) -> np.ndarray | float:
    """10 log10(sum clean^2 / sum (clean - estimate)^2), over `axis` (None: all)."""
    clean = np.asarray(clean, np.float64)
    err = np.sum((clean - np.asarray(estimate, np.float64)) ** 2, axis=axis)
    return 10 * np.log10(np.sum(clean**2, axis=axis) / np.maximum(err, 1e-20))


def rmse(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(clean, np.float64) - np.asarray(estimate, np.float64)) ** 2)))


def macro_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean ROC AUC over the classes that have both labels (nan if none)."""
    from sklearn.metrics import roc_auc_score

    aucs = [
        roc_auc_score(labels[:, k], probs[:, k]) for k in range(labels.shape[1]) if 0 < labels[:, k].sum() < len(labels)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")
