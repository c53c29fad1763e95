"""What a cardiologist reads first in a rhythm strip, as numbers: how fast and how irregular the beats come.

Computed from the R peaks of one window (numpy only; the same in training and in prediction). Atrial
fibrillation is an irregularly irregular rhythm: successive RR differences large, without pattern (turning
points near 2/3 of the beats, as in a random series). Ectopic beats give short-long pairs; noise gives
implausible intervals. Intervals are in seconds; the irregularity measures are ratios, so they do not depend
on the heart rate, the device or the sampling rate.
"""

from __future__ import annotations

import numpy as np

NAMES = (
    "mean_rr_s",
    "beats_per_s",
    "cv_rr",
    "rmssd_rel",
    "median_drr_rel",
    "large_drr_share",
    "turning_point_share",
    "rr_spread_rel",
    "premature_share",
    "short_long_share",
    "implausible_share",
    "few_beats",
)
LARGE_DRR = 0.15  # |dRR| over this share of the median RR counts as a large change
PREMATURE = 0.85  # an RR under this share of the median RR is premature
PLAUSIBLE_S = (0.24, 2.5)  # 25 to 250 bpm
MIN_BEATS = 4


def rhythm_features(peaks: np.ndarray, fs: float, span_s: float) -> np.ndarray:
    """The NAMES features (float32) of the R peaks (sample indices at fs) of a window span_s seconds long."""
    rr = np.diff(np.sort(np.asarray(peaks, dtype=np.float64))) / fs
    out = np.zeros(len(NAMES), dtype=np.float32)
    out[1] = len(peaks) / max(span_s, 1e-6)
    if len(peaks) < MIN_BEATS:  # no rhythm to measure: the window's length as the interval, the flag on
        out[0], out[-1] = span_s, 1.0
        return out
    med = float(np.median(rr))
    d = np.diff(rr)
    mid = rr[1:-1]
    turning = ((mid > rr[:-2]) & (mid > rr[2:])) | ((mid < rr[:-2]) & (mid < rr[2:]))
    short = rr < PREMATURE * med
    out[0] = rr.mean()
    out[2] = rr.std() / rr.mean()
    out[3] = np.sqrt(np.mean(d**2)) / med
    out[4] = np.median(np.abs(d)) / med
    out[5] = np.mean(np.abs(d) > LARGE_DRR * med)
    out[6] = turning.mean() if turning.size else 0.0
    out[7] = (np.percentile(rr, 90) - np.percentile(rr, 10)) / med
    out[8] = short.mean()
    out[9] = np.mean(short[:-1] & (rr[1:] > 1.1 * med))
    out[10] = np.mean((rr < PLAUSIBLE_S[0]) | (rr > PLAUSIBLE_S[1]))
    return out


def window_features(peaks: np.ndarray, starts: np.ndarray, length: int, fs: float, samples: int) -> np.ndarray:
    """rhythm_features of each window [start, start + length) of a record of `samples` samples (a window past
    its end is as long as the signal in it): (windows, len(NAMES))."""
    peaks = np.sort(np.asarray(peaks))
    rows = []
    for s in starts:
        lo, hi = np.searchsorted(peaks, [s, s + length])
        rows.append(rhythm_features(peaks[lo:hi], fs, (min(s + length, samples) - s) / fs))
    return np.stack(rows) if rows else np.zeros((0, len(NAMES)), np.float32)
