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
    from ecgmtl.signal.dsp import segment_peaks, uniform_filter1d

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
    b, e = begins[:n], ends[:n]
    keep = (e - b) >= min_len
    found = segment_peaks(x, b[keep], e[keep]).tolist()  # each QRS's most prominent local maximum
    peaks, last = [], 0
    for p in found:
        if p >= 0 and p - last > min_delay:
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

    slopes = _slopes(g, peaks, h)
    rr = np.diff(peaks)
    usual = _trailing_median(rr, context)
    found = []
    for i in np.flatnonzero(rr > gap * usual).tolist():
        a, b = int(peaks[i]) + guard, int(peaks[i + 1]) - guard
        if i == 0 or b - a < int(0.1 * fs):
            continue
        ref = np.median(slopes[max(0, i - context) : i + context + 2])
        q = a + gradient_qrs_peaks(x[a:b], fs, weight=weight, min_len_weight=0.0)
        found += q[_slopes(g, q, h) >= min_slope * ref].tolist()
    if not found:
        return peaks
    merged = np.unique(np.concatenate([peaks, np.asarray(found, dtype=np.int64)]))
    return merged[np.concatenate([[True], np.diff(merged) > guard])]


def reject_t_waves(
    x: np.ndarray, fs: float, peaks: np.ndarray, window_s: float = 0.36, ratio: float = 0.5
) -> np.ndarray:
    """Peaks without T waves taken for beats (Pan & Tompkins 1985's rule): a peak within `window_s` of the last
    kept one is dropped when its QRS slope (as in searchback) is under `ratio` times the median slope of the 8
    beats on each side. Pan & Tompkins compare with the previous beat alone; the median was chosen on MIT-BIH
    DS1 (detection errors 840 -> 817, no beat lost; see studies/LOG.md)."""
    from ecgmtl.signal.dsp import uniform_filter1d

    if peaks.size < 2:
        return peaks
    g = uniform_filter1d(np.abs(np.gradient(np.asarray(x, dtype=np.float64))), max(int(np.rint(0.1 * fs)), 1))
    h, window = max(int(0.05 * fs), 1), window_s * fs
    slopes = _slopes(g, peaks, h)
    keep = np.ones(peaks.size, dtype=bool)
    last = 0
    for i in range(1, peaks.size):
        if peaks[i] - peaks[last] < window and slopes[i] < ratio * np.median(slopes[max(0, i - 8) : i + 9]):
            keep[i] = False
        else:
            last = i
    return peaks[keep]


def add_other_lead(
    peaks: np.ndarray,
    other: np.ndarray,
    other_amp: np.ndarray,
    fs: float,
    gap: float = 1.3,
    min_amp: float = 0.7,
    apart_s: float = 0.3,
) -> np.ndarray:
    """The beats of one lead with those only the other lead shows (wide ectopic beats, runs of them): a peak of
    the other lead more than `apart_s` from every peak of this one is added when it falls in an RR interval over
    `gap` times the median of the 8 before it and its amplitude is at least `min_amp` times the median amplitude
    of the other lead's peaks. Both arrays are samples at the same rate, sorted. Chosen on MIT-BIH DS1 (detection
    errors 817 -> 725 at 150 ms; see studies/LOG.md)."""
    if peaks.size < 3 or other.size == 0:
        return peaks
    at = np.searchsorted(peaks, other)
    near = np.minimum(
        np.abs(other - peaks[np.clip(at - 1, 0, peaks.size - 1)]), np.abs(other - peaks[np.clip(at, 0, peaks.size - 1)])
    )
    rr = np.diff(peaks)
    usual = _trailing_median(rr, 8)  # usual[m]: the median of the 8 intervals before rr[m]
    j = np.clip(at, 1, peaks.size - 1)
    ok = (at > 1) & (at < peaks.size) & (near > apart_s * fs) & (other_amp >= min_amp * np.median(other_amp))
    keep = other[ok & (rr[j - 1] > gap * usual[j - 1])].tolist()
    return np.sort(np.concatenate([peaks, np.asarray(keep, dtype=np.int64)])) if keep else peaks


def _slopes(g: np.ndarray, peaks: np.ndarray, h: int) -> np.ndarray:
    """max of g within h samples of each peak."""
    if len(peaks) == 0:
        return np.zeros(0)
    idx = np.clip(np.asarray(peaks, dtype=np.int64)[:, None] + np.arange(-h, h + 1), 0, g.size - 1)
    return g[idx].max(axis=1)


def _trailing_median(v: np.ndarray, k: int) -> np.ndarray:
    """out[i] = median(v[max(0, i - k):i]) (NaN for i = 0)."""
    padded = np.concatenate([np.full(k, np.nan), np.asarray(v, dtype=np.float64)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)[: len(v)]
    out = np.full(len(v), np.nan)
    if len(v) > 1:
        with np.errstate(all="ignore"):
            out[1:] = np.nanmedian(windows[1:], axis=1)
    return out
