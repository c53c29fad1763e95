"""R-peak detection: the gradient-threshold QRS detector of neurokit2 (`ecg_peaks(method="neurokit")`,
Makowski et al. 2021), reimplemented here with numpy (and ecgmtl.signal.dsp for scipy's boxcar and peaks).

Why not call neurokit2: importing it pulls scikit-learn, pandas and matplotlib and costs 1.5 to 4 seconds per
process, more than half of the 3-second budget of `ecgmtl predict` on a 30-minute record. The test suite
checks that this gives the same peaks as neurokit2 on MIT-BIH records (tests/test_preprocess.py), and
`ECGMTL_DETECTOR=neurokit2` uses the library itself.

The method: the absolute gradient of the high-passed ECG, smoothed with a 0.1 s boxcar, is compared with
1.5 times its own 0.75 s boxcar average; each stretch above it longer than 0.4 times the mean stretch is a
QRS, and its most prominent local maximum is the R peak, at least 0.3 s after the previous one.
"""

from __future__ import annotations

import numpy as np


def gradient_qrs_peaks(
    x: np.ndarray,
    fs: float,
    smooth_s: float = 0.1,
    avg_s: float = 0.75,
    weight: float = 1.5,
    min_len_weight: float = 0.4,
    min_delay_s: float = 0.3,
) -> np.ndarray:
    from ecgmtl.signal.dsp import most_prominent_peak, uniform_filter1d

    x = np.asarray(x, dtype=np.float64)
    if x.size < 3:
        return np.zeros(0, dtype=np.int64)
    smooth = uniform_filter1d(np.abs(np.gradient(x)), max(int(np.rint(smooth_s * fs)), 1))
    threshold = weight * uniform_filter1d(smooth, max(int(np.rint(avg_s * fs)), 1))
    qrs = smooth > threshold
    begins = np.flatnonzero(~qrs[:-1] & qrs[1:])
    ends = np.flatnonzero(qrs[:-1] & ~qrs[1:])
    if begins.size == 0:
        return np.zeros(0, dtype=np.int64)
    ends = ends[ends > begins[0]]
    n = min(begins.size, ends.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    min_len = np.mean(ends[:n] - begins[:n]) * min_len_weight
    min_delay = int(np.rint(min_delay_s * fs))
    peaks, last = [], 0
    for b, e in zip(begins[:n], ends[:n]):
        if e - b < min_len:
            continue
        local = most_prominent_peak(x[b:e])
        if local is not None:
            p = b + local
            if p - last > min_delay:
                peaks.append(p)
                last = p
    return np.asarray(peaks, dtype=np.int64)


def searchback(
    x: np.ndarray,
    fs: float,
    peaks: np.ndarray,
    gap: float = 1.66,
    weight: float = 1.0,
    min_slope: float = 0.7,
    context: int = 8,
    guard_s: float = 0.25,
) -> np.ndarray:
    """Beats the detector missed, looked for again where an RR interval is over `gap` times the median of the
    `context` intervals before it (Pan & Tompkins 1985's search-back): the gap (without `guard_s` at each end)
    is searched with the same method at a lower threshold (`weight`, no minimum QRS length), and a peak found is
    kept when its QRS slope (the 0.1-s smoothed |gradient| within 50 ms) is at least `min_slope` times the median
    slope of the `context` beats on each side, so that a P or T wave in a true pause is not taken for a beat.
    Chosen on MIT-BIH DS1 (whole-record detection errors 1,111 -> 855 at 150 ms); peaks sorted, unique."""
    from ecgmtl.signal.dsp import uniform_filter1d

    if peaks.size < 4:
        return peaks
    g = uniform_filter1d(np.abs(np.gradient(np.asarray(x, dtype=np.float64))), max(int(np.rint(0.1 * fs)), 1))
    h, guard = max(int(0.05 * fs), 1), int(guard_s * fs)

    def slope(p: int) -> float:
        return float(g[max(p - h, 0) : p + h + 1].max())

    slopes = np.array([slope(int(p)) for p in peaks])
    rr = np.diff(peaks)
    found = []
    for i in range(1, rr.size):
        usual = np.median(rr[max(0, i - context) : i])
        a, b = int(peaks[i]) + guard, int(peaks[i + 1]) - guard
        if rr[i] <= gap * usual or b - a < int(0.1 * fs):
            continue
        ref = np.median(slopes[max(0, i - context) : i + context + 2])
        for q in gradient_qrs_peaks(x[a:b], fs, weight=weight, min_len_weight=0.0):
            if slope(a + int(q)) >= min_slope * ref:
                found.append(a + int(q))
    if not found:
        return peaks
    merged = np.unique(np.concatenate([peaks, np.asarray(found, dtype=np.int64)]))
    return merged[np.concatenate([[True], np.diff(merged) > guard])]
