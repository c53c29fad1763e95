"""Class-balanced loss weights, shared by the single-label tasks."""

from __future__ import annotations

import numpy as np


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """(n / n_c) ** power, scaled so that the mean weight over the training items is 1; 0 for absent classes."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    return (w / (w[labels].mean())).astype(np.float32)
