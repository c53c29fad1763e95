"""Signal-quality gating for prediction: beats the model should not be trusted on are labelled
`unclassified`, with the reason, instead of being forced into a class. Noise is judged on the signal, never on
the beat's shape, so that a clean ectopic beat is never held back for being unlike the others.

Per segment (`segment_s` of the record): missing samples (NaN), flat line, saturation (samples held at the
record's extreme values), no detectable beat. Per beat: the noise around it (noise_index: the lead's
high-frequency residual outside the QRS complexes, relative to the record's R amplitude). A segment where at
least half of the beats are noisy is unclassified as a whole. The noise threshold was chosen on MIT-BIH DS1
with NSTDB noise from the first half of each noise record (studies/LOG.md).

Template matching (Orphanidou et al. 2015; `template_correlation`) is kept for the Holter report's artefact
rule, not for the gate: on clean records it held back 6.5% of DS1's V beats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

NOISE_REASON = "noisy signal around the beat"
BEAT_REASONS = (NOISE_REASON,)  # a beat's own checks; the others are its segment's


@dataclass(frozen=True)
class QualityThresholds:
    segment_s: float = 10.0
    flat_ptp_mv: float = 0.05  # raw or band-passed peak-to-peak below this: a flat line (lead off)
    saturation_fraction: float = 0.05  # share of a segment's samples held at the record's min or max
    max_noise: Optional[float] = 0.06  # noise_index above this: the beat is held back (None: off)
    segment_fail_share: float = 0.5  # a segment with this share of noisy beats fails as a whole

    @classmethod
    def from_meta(cls, meta: dict | None) -> QualityThresholds:
        if not meta:
            return cls()
        known = {k: v for k, v in meta.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_meta(self) -> dict:
        return asdict(self)


def template_correlation(windows: np.ndarray, labels: np.ndarray | None = None, min_beats: int = 5) -> np.ndarray:
    """Pearson correlation of each beat window (beats, samples) with the record's median beat of the same
    predicted class (`labels`; classes with fewer than `min_beats` beats, or no labels, use the median of all
    beats). Per class, so that a run of ectopic beats is not mistaken for noise: noise lowers a beat's
    correlation with any template."""
    if len(windows) == 0:
        return np.zeros(0, np.float32)
    w = windows - windows.mean(axis=1, keepdims=True)
    templates = np.repeat(np.median(windows, axis=0)[None, :], len(windows), axis=0)
    if labels is not None:
        for k in np.unique(labels):
            members = labels == k
            if members.sum() >= min_beats:
                templates[members] = np.median(windows[members], axis=0)
    t = templates - templates.mean(axis=1, keepdims=True)
    num = (w * t).sum(axis=1)
    den = np.linalg.norm(w, axis=1) * np.linalg.norm(t, axis=1)
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0).astype(np.float32)


def noise_index(
    filtered: np.ndarray,
    peaks: np.ndarray,
    fs: float,
    scale_mv: float,
    qrs_s: float = 0.1,
    window_s: float = 2.0,
    smooth_s: float = 0.03,
) -> np.ndarray:
    """Per beat, the noise around it judged on the signal, not on the beat's shape: the RMS of the lead's
    high-frequency residual (the filtered lead minus its `smooth_s` moving average) over `window_s` centred
    on the beat, the QRS complexes (`qrs_s` each side of every detected peak) left out, relative to the
    record's median R amplitude `scale_mv`. Outside the QRS an ECG holds little above 20 Hz; muscle noise
    does. A wide ectopic beat does not raise it: its QRS is left out like any other."""
    from ecgmtl.signal.dsp import uniform_filter1d

    peaks = np.asarray(peaks, dtype=np.int64)
    x = np.asarray(filtered, dtype=np.float64)
    if peaks.size == 0 or x.size == 0:
        return np.zeros(peaks.size, np.float32)
    hf = x - uniform_filter1d(x, max(int(round(smooth_s * fs)), 1))
    h = int(round(qrs_s * fs))
    edges = np.zeros(x.size + 1)
    np.add.at(edges, np.clip(peaks - h, 0, x.size), 1.0)
    np.add.at(edges, np.clip(peaks + h + 1, 0, x.size), -1.0)
    outside = (np.cumsum(edges)[:-1] <= 0).astype(np.float64)
    w = max(int(round(window_s * fs)), 1)
    energy, count = uniform_filter1d(hf**2 * outside, w)[peaks], uniform_filter1d(outside, w)[peaks]
    with np.errstate(divide="ignore", invalid="ignore"):
        rms = np.where(count > 0.05, np.sqrt(energy / np.maximum(count, 1e-12)), np.inf)
    return (rms / max(float(scale_mv), 1e-6)).astype(np.float32)


def saturated(raw: np.ndarray) -> np.ndarray:
    """Samples at the record's extreme values that hold for at least 3 samples in a row (a clipped ADC)."""
    finite = raw[np.isfinite(raw)]
    if finite.size == 0:
        return np.zeros(raw.shape, bool)
    out = np.zeros(raw.shape, bool)
    for rail in (finite.min(), finite.max()):
        at = raw == rail
        run = at[:-2] & at[1:-1] & at[2:] if raw.size >= 3 else np.zeros(0, bool)
        held = np.zeros(raw.shape, bool)
        held[:-2] |= run
        held[1:-1] |= run
        held[2:] |= run
        out |= held
    if finite.max() - finite.min() <= 0:  # a constant record is flat, not saturated
        return np.zeros(raw.shape, bool)
    return out


def segment_bounds(n: int, fs: float, segment_s: float) -> np.ndarray:
    """Edges (segments + 1,) in samples of the quality segments of a record of n samples: every segment_s
    seconds, a short tail (under half a segment) joined to the segment before it instead of being judged on a
    few samples."""
    seg_n = segment_s * fs
    n_seg = max(1, int(np.ceil(n / seg_n)))
    if n_seg > 1 and n - (n_seg - 1) * seg_n < seg_n / 2:
        n_seg -= 1
    return np.array([int(i * seg_n) for i in range(n_seg)] + [n], dtype=np.int64)


def segment_flags(
    raw_mv: np.ndarray,
    fs: float,
    filtered: np.ndarray,
    fs_model: float,
    peaks: np.ndarray,
    thr: QualityThresholds,
    bounds: np.ndarray | None = None,
    segments: tuple[int, int] | None = None,
    offset: int = 0,
) -> list[dict]:
    """Segments with their failed checks: [{start_s, end_s, reasons: [...]}], every segment judged.

    Whole record by default. For a chunk of a long record: raw_mv (at fs) and filtered (at fs_model) start at
    record sample `offset` and `peaks` are indices into filtered; `bounds` are the record's segment edges
    (segment_bounds) and `segments` = (first, end) the segments judged here. Times are from the record's start.
    """
    if bounds is None:
        bounds = segment_bounds(raw_mv.shape[0], fs, thr.segment_s)
    first, end = segments or (0, len(bounds) - 1)
    off_m = int(round(offset * fs_model / fs))
    sat = saturated(raw_mv)
    peaks_s = (np.asarray(peaks) + off_m) / fs_model
    segs = []
    for i in range(first, end):
        last = i == len(bounds) - 2
        a, b = int(bounds[i]) - offset, int(bounds[i + 1]) - offset
        fa = int(i * thr.segment_s * fs_model) - off_m
        fb = filtered.shape[0] if last else int((i + 1) * thr.segment_s * fs_model) - off_m
        reasons = []
        seg = raw_mv[a:b]
        if np.isnan(seg).any():
            reasons.append("missing samples (NaN)")
        f = filtered[max(fa, 0) : fb]
        finite = seg[np.isfinite(seg)]
        raw_flat = finite.size == 0 or float(np.ptp(finite)) < thr.flat_ptp_mv
        if raw_flat or f.size == 0 or float(np.ptp(f)) < thr.flat_ptp_mv:  # raw: lead off; filtered: no ECG activity
            reasons.append("flat line")
        if sat[a:b].mean() >= thr.saturation_fraction if b > a else False:
            reasons.append("saturation")
        start, stop = (a + offset) / fs, (b + offset) / fs
        lo, hi = np.searchsorted(peaks_s, [start, stop])
        if hi <= lo and "flat line" not in reasons:
            reasons.append("no detectable beat")
        segs.append({"start_s": round(start, 3), "end_s": round(stop, 3), "reasons": reasons})
    return segs


def gate_beats(
    times_s: np.ndarray, noise: np.ndarray, segments: list[dict], thr: QualityThresholds
) -> list[str | None]:
    """The reason each beat is unclassified, or None. Marks segments that fail through their beats."""
    n = len(times_s)
    bad_noise = np.zeros(n, bool) if thr.max_noise is None else ~(np.asarray(noise) <= thr.max_noise)  # NaN too
    reasons = np.full(n, None, dtype=object)
    reasons[bad_noise] = NOISE_REASON
    if not segments or not n:
        return list(reasons)
    starts = np.array([seg["start_s"] for seg in segments])
    idx = np.clip(np.searchsorted(starts, np.asarray(times_s), side="right") - 1, 0, len(segments) - 1)
    members = np.bincount(idx, minlength=len(segments))
    failing = np.bincount(idx, weights=bad_noise.astype(float), minlength=len(segments))
    for s in np.flatnonzero(members > 0):
        if failing[s] / members[s] >= thr.segment_fail_share:
            segments[s]["reasons"].append("noisy: most beats are in noise")
    why = np.array([seg["reasons"][0] if seg["reasons"] else None for seg in segments], dtype=object)[idx]
    fill = (reasons == None) & (why != None)  # noqa: E711 (elementwise on object arrays)
    reasons[fill] = why[fill]
    return list(reasons)
