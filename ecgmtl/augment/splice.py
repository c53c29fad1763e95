"""Records in which S beats are the majority, built from a record's own stretches around its S beats.

The beat model's references are per record (the mean RR, the median beat), so it learns that an S beat is one
that differs from most beats of its record. In a record where S beats are the majority (MIT-BIH 232: sinus
bradycardia with long pauses and frequent atrial premature beats) the references are the S beats' own, and S
beats look normal. DS1 holds no such record. `splice_s` makes one from any record with S beats: for each S
beat, the stretch from the middle of the RR interval before the beat that precedes it to the middle of the RR
interval after it (the preceding beat, the S beat and both of the S beat's RR intervals intact), overlapping
stretches merged (S runs stay whole), joined end to end, each shifted to start at the level where the last one
ended (no step at a join). Used for training (`data.s_splice`) and by data_scripts/s_majority.py as a stress
test inside DS1.
"""

from __future__ import annotations

import numpy as np

SPLICED = "~s"  # record name suffix: "209~s" is record 209 with only its S stretches
MIN_S = 20  # records with fewer S beats are not spliced


def s_stretches(peaks: np.ndarray, is_s: np.ndarray) -> list[tuple[int, int]]:
    """Sample intervals [start, end) around the S beats (see the module docstring), merged where they overlap
    or touch. peaks: the annotated beats' samples, in order; is_s: which of them are S."""
    merged: list[list[int]] = []
    for i in np.flatnonzero(is_s):
        if i < 2 or i + 1 >= len(peaks):
            continue
        a, b = int((peaks[i - 2] + peaks[i - 1]) // 2), int((peaks[i] + peaks[i + 1]) // 2)
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def splice_s(
    signal: np.ndarray, peaks: np.ndarray, values: np.ndarray, is_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The S stretches of `signal` (samples, or samples x leads) joined end to end, and the beats inside them:
    their new sample indices and their `values` (labels, symbols). Empty arrays when there is no S stretch."""
    parts, new_peaks, new_values, at, last = [], [], [], 0, None
    for a, b in s_stretches(peaks, is_s):
        seg = np.asarray(signal[a:b], dtype=np.float64)
        if last is not None:
            seg = seg - seg[0] + last
        last = seg[-1]
        parts.append(seg)
        inside = (peaks >= a) & (peaks < b)
        new_peaks.append(peaks[inside] - a + at)
        new_values.append(values[inside])
        at += b - a
    if not parts:
        return np.zeros((0,) + signal.shape[1:]), peaks[:0], values[:0]
    return np.concatenate(parts), np.concatenate(new_peaks), np.concatenate(new_values)


def base_name(record: str) -> str:
    """The record a (possibly spliced) record name comes from: '209~s' -> '209'."""
    return record[: -len(SPLICED)] if record.endswith(SPLICED) else record
