"""Time-domain heart-rate variability on normal-to-normal (NN) intervals (Task Force of the ESC and NASPE,
Circulation 1996;93:1043).

An NN interval is an RR interval whose two beats are both "N", within a plausible range (0.3-2.0 s by default:
outside it, a missed or a false detection is likelier than a real beat), not overlapping an excluded (noisy)
stretch and, optionally, not next to an ectopic beat. Successive differences (RMSSD, pNN50) are taken only
between NN intervals that share a beat, never across a dropped interval. Choices where the definitions leave
room, all stated in the output's docstring: SD with ddof=1 (as neurokit2); pNN50 over the successive
differences; 5-min segments aligned on the record's start.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ecgmtl.holter.events import F, N, S, V, beat_codes, in_stretches


class NNIntervals(NamedTuple):
    rr_ms: np.ndarray  # (nn,) NN intervals, ms
    time_s: np.ndarray  # (nn,) time of each interval's closing beat, s from the record's start
    successive: np.ndarray  # (nn,) bool: interval j directly follows interval j-1 (they share a beat)


def nn_intervals(
    times_s,
    labels,
    min_s: float = 0.3,
    max_s: float = 2.0,
    exclude_adjacent_ectopic: bool = False,
    exclude=None,
) -> NNIntervals:
    """The NN intervals of a beat sequence (see the module docstring). `exclude_adjacent_ectopic` also drops an
    N-N interval whose beat before or beat after (i-1 or i+2) is ectopic (S, V or F): the beats around a premature
    beat are not sinus-paced (heart rate turbulence, reset of the sinus node)."""
    t, codes = beat_codes(times_s, labels)
    if t.size < 2:
        return NNIntervals(np.zeros(0), np.zeros(0), np.zeros(0, bool))
    rr = np.diff(t)
    normal = codes == N
    keep = normal[:-1] & normal[1:] & (rr >= min_s) & (rr <= max_s)
    keep &= ~in_stretches(t[:-1], t[1:], exclude)
    if exclude_adjacent_ectopic:
        ectopic = np.isin(codes, [S, V, F])
        keep[1:] &= ~ectopic[:-2]  # interval i is beats (i, i+1); its beat before is i-1
        keep[:-1] &= ~ectopic[2:]  # and its beat after is i+2
    i = np.flatnonzero(keep)
    successive = np.concatenate(([False], np.diff(i) == 1)) if i.size else np.zeros(0, bool)
    return NNIntervals(1000.0 * rr[i], t[i + 1], successive)


def _sd(x: np.ndarray) -> float | None:
    return float(np.std(x, ddof=1)) if x.size >= 2 else None


def time_domain(
    times_s,
    labels,
    segment_s: float = 300.0,
    min_segment_coverage: float = 0.5,
    **nn_options,
) -> dict:
    """SDNN, SDANN, SDNN index, RMSSD and pNN50 of a beat sequence; `nn_options` go to `nn_intervals`.

    Returns {"n_nn" (NN intervals used), "n_successive" (successive differences used), "n_segments" (segments
    used), "mean_nn_ms", "sdnn_ms", "sdann_ms", "sdnn_index_ms", "rmssd_ms", "pnn50_pct"}, None where undefined.
    - SDNN: SD of all NN intervals, ms, ddof=1 (as neurokit2; the Task Force writes the SD without a ddof).
    - SDANN / SDNN index: SD of the mean NN, and mean of the SD of NN (ddof=1), over `segment_s` segments
      aligned on the record's start (segment = floor(time of the interval's closing beat / segment_s), as
      neurokit2 does when the first beat is at 0 s). A segment is used if its NN intervals add up to at least
      `min_segment_coverage` of its length (so a mostly noisy or ectopic segment, or the record's partial last
      segment, does not count) and it holds two or more; SDANN needs two such segments.
    - RMSSD: root mean square of the successive differences, ms.
    - pNN50: % of successive differences over 50 ms, counted over the successive differences (neurokit2 and the
      letter of the Task Force divide by the NN intervals instead: n_successive + 1 on an unbroken sequence,
      100 * (n - 1) / n % where every difference is over 50 ms). A difference of exactly 50 ms is not over.
    """
    nn = nn_intervals(times_s, labels, **nn_options)
    rr = nn.rr_ms
    diffs = np.diff(rr)[nn.successive[1:]]
    out = {"n_nn": int(rr.size), "n_successive": int(diffs.size), "n_segments": 0}
    out |= {"mean_nn_ms": float(rr.mean()) if rr.size else None, "sdnn_ms": _sd(rr)}
    out |= {"sdann_ms": None, "sdnn_index_ms": None}
    out["rmssd_ms"] = float(np.sqrt(np.mean(diffs**2))) if diffs.size else None
    # a difference of exactly 50 ms (50 samples at 1 kHz, 18 at 360 Hz) is not over 50 ms, whatever float noise
    # the times in s carried: 1e-6 ms of slack
    nn50 = int(np.count_nonzero(np.abs(diffs) > 50.0 + 1e-6))
    out["pnn50_pct"] = 100.0 * nn50 / diffs.size if diffs.size else None

    if rr.size:
        seg = np.floor(nn.time_s / segment_s).astype(np.int64)
        count = np.bincount(seg)
        total = np.bincount(seg, weights=rr)
        used = (total >= min_segment_coverage * segment_s * 1000.0) & (count >= 2)
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        # two passes (deviations from each segment's mean): no cancellation on ~1000 ms values
        ss = np.bincount(seg, weights=(rr - mean[seg]) ** 2, minlength=count.size)
        sd = np.sqrt(ss[used] / (count[used] - 1))
        out["n_segments"] = int(used.sum())
        out["sdnn_index_ms"] = float(sd.mean()) if sd.size else None
        out["sdann_ms"] = _sd(mean[used])
    return out
