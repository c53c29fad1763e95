"""Sampling-rate conversion."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase (anti-aliased) resampling of x along its last axis, from fs_in to fs_out Hz; float32."""
    if abs(fs_in - fs_out) < 1e-6:
        return x.astype(np.float32, copy=False)
    from ecgmtl.signal.dsp import resample_poly

    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)
