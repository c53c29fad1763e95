"""The few scipy.signal and scipy.ndimage functions prediction needs, in numpy alone: a Butterworth band-pass
design (`butter_bandpass_sos` = `scipy.signal.butter(..., btype="band", output="sos")`), zero-phase filtering
(`sosfiltfilt`, odd padding), polyphase resampling (`resample_poly`, Kaiser window 5.0, zero padding), a
boxcar average (`uniform_filter1d`, mode "nearest") and the most prominent local maximum (`find_peaks` with
`peak_prominences`).

Why: `import scipy.signal` costs about 0.5 s and `scipy.ndimage` 0.14 s of a 2-core machine's time, more than
half of the 1-second budget of a whole `ecgmtl predict` process on a 30-minute record. Each function follows
the scipy algorithm step by step and tests/test_dsp.py checks it against scipy on MIT-BIH signals (to 1e-9 of
the signal's scale; the peaks identical). The IIR filter runs as an FFT convolution with its impulse response,
truncated where it has decayed below 1e-16, plus the exact response to its initial state.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

# -- design -------------------------------------------------------------------------------------------------


def butter_bandpass_sos(order: int, low_hz: float, high_hz: float, fs: float) -> np.ndarray:
    """Second-order sections (order, 6) of a digital Butterworth band-pass, as scipy.signal.butter(order,
    [low_hz, high_hz], btype="band", fs=fs, output="sos") computes them: the analog prototype, pre-warped
    edges, the band-pass and bilinear transforms (at scipy's normalised rate of 2), and zpk2sos pairing."""
    p = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))  # analog prototype, no zeros, gain 1
    fs2 = 4.0  # 2 * the normalised rate 2 (Nyquist = 1)
    lo, hi = (fs2 * np.tan(np.pi * (2 * f / fs) / 2.0) for f in (low_hz, high_hz))
    bw, w0 = hi - lo, np.sqrt(lo * hi)
    p_lp = p * bw / 2
    p_bp = np.concatenate([p_lp + np.sqrt(p_lp**2 - w0**2), p_lp - np.sqrt(p_lp**2 - w0**2)])
    z_bp = np.zeros(order)  # order zeros at s = 0, and order at infinity
    k_bp = bw**order
    p_z = (fs2 + p_bp) / (fs2 - p_bp)
    z_z = np.concatenate([(fs2 + z_bp) / (fs2 - z_bp), -np.ones(order)])
    k_z = k_bp * np.real(np.prod(fs2 - z_bp) / np.prod(fs2 - p_bp))
    return _pair(z_z.real, p_z, float(k_z))


def _pair(z: np.ndarray, p: np.ndarray, k: float) -> np.ndarray:
    """zpk2sos(pairing="nearest") for real zeros and an even number of poles (what a band-pass has): the pole
    (pair) nearest the unit circle goes last, each with the two zeros nearest to it, the gain in the first."""
    p = p[np.lexsort((np.abs(p.imag), p.real))]  # as scipy's _cplxreal
    real = np.abs(p.imag) <= 100 * np.finfo(float).eps * np.abs(p)
    upper, lower = p[~real & (p.imag > 0)], p[~real & (p.imag < 0)]
    poles = np.concatenate([(upper + np.conj(lower)) / 2, p[real].real.astype(complex)])
    is_real = np.concatenate([np.zeros(len(upper), bool), np.ones(int(real.sum()), bool)])
    zeros = list(np.sort(z))
    sos = np.zeros(((len(upper) * 2 + int(real.sum())) // 2, 6))
    for si in range(len(sos) - 1, -1, -1):
        i = int(np.argmin(np.abs(1 - np.abs(poles))))
        p1, r1 = poles[i], is_real[i]
        poles, is_real = np.delete(poles, i), np.delete(is_real, i)
        if r1:  # its partner: the real pole nearest the unit circle
            j = int(np.flatnonzero(is_real)[np.argmin(np.abs(1 - np.abs(poles[is_real])))])
            p2 = poles[j]
            poles, is_real = np.delete(poles, j), np.delete(is_real, j)
        else:
            p2 = np.conj(p1)
        z1 = zeros.pop(int(np.argmin(np.abs(np.array(zeros) - p1))))
        z2 = zeros.pop(int(np.argmin(np.abs(np.array(zeros) - p1))))
        sos[si, :3] = np.real(np.poly([z1, z2]))
        sos[si, 3:] = np.real(np.poly([p1, p2]))
    sos[0, :3] *= k
    return sos


# -- zero-phase IIR filtering ---------------------------------------------------------------------------------


def _decay_length(sos: np.ndarray, tol: float = 1e-16) -> int:
    """Samples after which the cascade's impulse response is below tol of its peak (from its slowest pole)."""
    r = max(float(np.max(np.abs(np.roots(sec[3:])))) for sec in sos)
    if r >= 1.0:
        raise ValueError("unstable filter")
    return int(np.ceil(np.log(tol) / np.log(r) * 1.5)) + 8 * sos.shape[0] + 64


def sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None) -> np.ndarray:
    """scipy.signal.sosfilt(sos, x, zi=zi)[0] of a 1-D x, in the frequency domain: X times the cascade's
    response, plus the response to each section's initial state zi (sections, 2), on an FFT grid long enough
    (the signal plus the impulse response's decay) that the circular convolution equals the linear one."""
    n = x.shape[0]
    size = _fast_length(n + _decay_length(sos))
    h, g0, g1 = _responses(sos.tobytes(), sos.shape[0], size)
    y = np.fft.rfft(x, size) * h
    if zi is not None:
        y += zi[:, 0] @ g0 + zi[:, 1] @ g1
    return np.fft.irfft(y, size)[:n]


def _fast_length(n: int) -> int:
    """The smallest even 2^a 3^b 5^c >= n: a length the FFT handles fast (a power of two may be 2x longer)."""
    best = 1 << int(np.ceil(np.log2(max(n, 2))))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35 * (1 << max(1, int(np.ceil(np.log2(n / p35)))))  # at least one factor of 2
            best = min(best, m) if m >= n else best
            p35 *= 3
        p5 *= 5
    return best


@lru_cache(maxsize=8)
def _responses(sos_bytes: bytes, sections: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On the rfft grid of `size`: the cascade's response H, and (sections, bins) the responses to a unit
    first and second state of each section (its state z0 + z1 z^-1 goes through 1 / A and the sections after)."""
    sos = np.frombuffer(sos_bytes).reshape(sections, 6)
    e = np.exp(-2j * np.pi * np.arange(size // 2 + 1) / size)  # z^-1 on the grid

    def poly(c: np.ndarray) -> np.ndarray:
        return c[0] + e * (c[1] + e * c[2])

    h = np.ones_like(e)  # the response of the sections after the current one, then of all of them
    g0 = np.empty((sections, e.size), complex)
    for s in range(sections - 1, -1, -1):
        a = poly(sos[s, 3:])
        g0[s] = h / a
        h = h * poly(sos[s, :3]) / a
    return h, g0, g0 * e


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """The initial state of each section for the steady state of a unit step (scipy.signal.sosfilt_zi)."""
    zi = np.empty((sos.shape[0], 2))
    scale = 1.0
    for s in range(sos.shape[0]):
        b, a = sos[s, :3], sos[s, 3:]
        i_minus_a = np.eye(2) - np.array([[-a[1], 1.0], [-a[2], 0.0]])
        zi[s] = scale * np.linalg.solve(i_minus_a, b[1:] - a[1:] * b[0])
        scale *= b.sum() / a.sum()
    return zi


def sosfiltfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """scipy.signal.sosfiltfilt(sos, x) of a 1-D x: odd extension of 3 * (2 * sections + 1) samples, forward and
    backward passes from the steady state of the edge samples."""
    x = np.asarray(x, dtype=np.float64)
    ntaps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * ntaps
    if x.shape[0] <= edge:
        raise ValueError(f"the input must be longer than {edge} samples")
    ext = np.concatenate([2 * x[0] - x[edge:0:-1], x, 2 * x[-1] - x[-2 : -(edge + 2) : -1]])
    zi = sosfilt_zi(sos)
    y = sosfilt(sos, ext, zi * ext[0])
    y = sosfilt(sos, y[::-1], zi * y[-1])[::-1]
    return y[edge:-edge]


# -- resampling -----------------------------------------------------------------------------------------------


def _firwin_lowpass(numtaps: int, cutoff: float, beta: float = 5.0) -> np.ndarray:
    """scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta)): cutoff relative to Nyquist, unit DC gain."""
    m = np.arange(numtaps) - 0.5 * (numtaps - 1)
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, beta)
    return h / h.sum()


def resample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """scipy.signal.resample_poly(x, up, down) along the last axis (Kaiser window 5.0, zeros beyond the ends),
    as a polyphase filter: the outputs of one phase are a strided sliding window of x times that phase's taps."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.asarray(x, dtype=np.float64)
    if x.ndim > 1:
        return np.stack([resample_poly(row, up, down) for row in x.reshape(-1, x.shape[-1])]).reshape(*x.shape[:-1], -1)
    g = gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.copy()
    n_in = x.shape[0]
    n_out = n_in * up // down + bool(n_in * up % down)
    half_len = 10 * max(up, down)
    h = _firwin_lowpass(2 * half_len + 1, 1.0 / max(up, down)) * up
    n_pre_pad = down - half_len % down
    n_pre_remove = (half_len + n_pre_pad) // down
    h = np.concatenate([np.zeros(n_pre_pad), h])
    taps = -(-len(h) // up)
    phases = np.concatenate([h, np.zeros(taps * up - len(h))]).reshape(taps, up).T  # phases[p, i] = h[i*up + p]
    # output m: t = (m + n_pre_remove) * down, y[m] = sum_i x[t // up - i] * phases[t % up, i]
    padded = np.concatenate([np.zeros(taps), x, np.zeros(2 * taps + down)])
    windows = sliding_window_view(padded, taps)  # windows[s] = padded[s : s + taps]; x[j] = padded[j + taps]
    y = np.empty(n_out)
    for m0 in range(min(up, n_out)):  # outputs m0, m0 + up, ... share a phase, their windows `down` apart
        t = (m0 + n_pre_remove) * down
        count = len(range(m0, n_out, up))
        start = t // up + 1
        y[m0::up] = windows[start : start + count * down : down] @ phases[t % up, ::-1]
    return y


# -- the QRS detector's pieces ---------------------------------------------------------------------------------


def uniform_filter1d(x: np.ndarray, size: int) -> np.ndarray:
    """scipy.ndimage.uniform_filter1d(x, size, mode="nearest"): the mean of x[i - size // 2 : i - size // 2 +
    size], the ends extended with the edge values."""
    x = np.asarray(x, dtype=np.float64)
    left = size // 2
    right = size - 1 - left
    padded = np.concatenate([np.full(left, x[0]), x, np.full(right, x[-1])])
    c = np.concatenate([[0.0], np.cumsum(padded)])
    return (c[size:] - c[:-size]) / size


def most_prominent_peak(x) -> int | None:
    """The index of the local maximum of x with the largest prominence (scipy.signal.find_peaks with
    peak_prominences, wlen None: the first of equal ones, a flat top at its middle); None without one.
    x: an array or a list of floats (a list is faster: the detector calls this once per QRS, and indexing
    Python floats costs a third of indexing numpy scalars)."""
    x = x.tolist() if isinstance(x, np.ndarray) else x
    end = len(x) - 1
    if end < 2:
        return None
    best, best_prom = None, -float("inf")
    i = 1
    while i < end:  # scipy's _local_maxima_1d
        v = x[i]
        if x[i - 1] < v:
            ahead = i + 1
            while ahead < end and x[ahead] == v:
                ahead += 1
            if x[ahead] < v:
                pk = (i + ahead - 1) // 2
                lo = pk
                while lo > 0 and x[lo - 1] <= v:
                    lo -= 1
                hi = pk
                while hi < end and x[hi + 1] <= v:
                    hi += 1
                prom = v - max(min(x[lo : pk + 1]), min(x[pk : hi + 1]))
                if prom > best_prom:
                    best, best_prom = pk, prom
                i = ahead
        i += 1
    return best


def segment_peaks(x: np.ndarray, begins: np.ndarray, ends: np.ndarray, cap: int = 96) -> np.ndarray:
    """most_prominent_peak of each segment x[begins[k]:ends[k]], all segments at once: (segments,) int64
    indices into x, -1 for a segment without a local maximum. The same answer as the scalar function (local
    maxima as runs of equal values, prominence bases limited to the segment, the first of equal ones), computed
    on a (peaks, cap) matrix; a segment longer than `cap`, and each of fewer than 16, goes through the scalar
    function."""
    x = np.asarray(x, dtype=np.float64)
    begins, ends = np.asarray(begins, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    out = np.full(begins.size, -1, dtype=np.int64)
    lengths = ends - begins
    # the matrix's fixed cost is that of about 16 segments one by one
    scalar = lengths > cap if begins.size >= 16 else np.ones(begins.size, dtype=bool)
    short = np.flatnonzero((lengths >= 3) & ~scalar)
    for k in np.flatnonzero(scalar).tolist():
        local = most_prominent_peak(x[begins[k] : ends[k]].tolist())
        out[k] = -1 if local is None else begins[k] + local
    if not short.size:
        return out
    b, n = begins[short], lengths[short]
    col = np.arange(cap)
    inside = col[None, :] < n[:, None]
    m = np.where(inside, x[np.minimum(b[:, None] + col[None, :], x.size - 1)], np.nan)  # (segments, cap)
    # runs of equal values: a run starts where the value changes; a peak is a run with a lower run on each side
    new_run = np.ones_like(inside)
    new_run[:, 1:] = m[:, 1:] != m[:, :-1]
    run_start = np.maximum.accumulate(np.where(new_run, col[None, :], 0), axis=1)
    last = inside & np.concatenate([new_run[:, 1:], np.ones((len(b), 1), bool)], axis=1)  # a run's last value
    before = np.take_along_axis(m, np.maximum(run_start - 1, 0), axis=1)
    after = np.concatenate([m[:, 1:], np.full((len(b), 1), np.nan)], axis=1)
    is_peak = last & (run_start > 0) & (before < m) & (after < m)  # NaN (outside) compares False
    seg, end_col = np.nonzero(is_peak)  # row-major: by segment, then position
    if not seg.size:
        return out
    pk = (run_start[seg, end_col] + end_col) // 2
    v = m[seg, pk]
    rows = m[seg]  # (peaks, cap)
    higher = rows > v[:, None]
    left_wall = np.where(higher & (col[None, :] < pk[:, None]), col[None, :], -1).max(axis=1)
    right_wall = np.where(higher & (col[None, :] > pk[:, None]), col[None, :], cap).min(axis=1)
    left_min = np.where((col > left_wall[:, None]) & (col <= pk[:, None]), rows, np.inf).min(axis=1)
    right_min = np.where((col >= pk[:, None]) & (col < right_wall[:, None]) & inside[seg], rows, np.inf).min(axis=1)
    prom = v - np.maximum(left_min, right_min)
    starts = np.flatnonzero(np.concatenate([[True], seg[1:] != seg[:-1]]))
    best = np.repeat(np.maximum.reduceat(prom, starts), np.diff(np.append(starts, prom.size)))
    w = np.flatnonzero(prom == best)  # the winners, by segment and position: keep each segment's first
    w = w[np.concatenate([[True], seg[w][1:] != seg[w][:-1]])]
    out[short[seg[w]]] = b[seg[w]] + pk[w]
    return out
