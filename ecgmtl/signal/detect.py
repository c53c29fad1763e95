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
