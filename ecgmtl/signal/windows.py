"""Sliding windows over a signal, and windows stitched back into one."""

from __future__ import annotations

import numpy as np


def window_starts(total: int, length: int, stride: int) -> list[int]:
    """Starts of the windows of `length` samples, `stride` apart, the last one flush with the end."""
    starts = list(range(0, total - length + 1, stride))
    if starts[-1] != total - length:
        starts.append(total - length)
    return starts


def sliding_windows(signals: np.ndarray, length: int, stride: int) -> np.ndarray:
    """(records, leads, samples) -> (records, windows, leads, length), at window_starts."""
    return np.stack([signals[..., s : s + length] for s in window_starts(signals.shape[-1], length, stride)], axis=1)


def stitch(windows: np.ndarray, samples: int, stride: int) -> np.ndarray:
    """Windows (windows, leads, length) taken at window_starts back to (leads, samples), overlaps averaged."""
    _, leads, length = windows.shape
    out = np.zeros((leads, samples), np.float64)
    count = np.zeros(samples, np.float64)
    for s, w in zip(window_starts(samples, length, stride), windows):
        out[:, s : s + length] += w
        count[s : s + length] += 1
    return (out / count).astype(np.float32)
