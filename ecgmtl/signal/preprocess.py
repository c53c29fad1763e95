"""Preprocessing shared by training and prediction: one function turns a lead in mV into model inputs.

Everything here is numpy (ecgmtl.signal.dsp: scipy's filters without the cost of importing scipy.signal; no
torch), so prediction stays light. The parameters live in
`PreprocessConfig`, which is saved in every checkpoint and ONNX model so prediction repeats it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgmtl.errors import RecordError
from ecgmtl.signal.resample import resample

RR_FEATURES = ("rr_prev_s", "rr_next_s", "rr_local_s", "rr_prev_rel", "rr_next_rel", "rr_local_rel", "rr_prev_local")
RR_IRREGULARITY = "rr_irregularity"  # the optional eighth feature (PreprocessConfig.rr_irregularity)


@dataclass(frozen=True)
class PreprocessConfig:
    """How a lead becomes beat windows. Times in seconds, rates in Hz, window lengths in samples at `fs`."""

    fs: float = 180.0  # the model's sampling rate; records are resampled to it
    lead: str = "MLII"
    highpass_hz: float = 0.5  # removes baseline wander
    lowpass_hz: float = 40.0  # removes mains and muscle noise
    filter_order: int = 2  # Butterworth, applied forward and backward (zero phase)
    pre: int = 48  # samples before the R peak (0.27 s at 180 Hz)
    post: int = 80  # samples after it (0.44 s)
    local_rr_beats: int = 10  # beats averaged for the local RR
    rr_irregularity: bool = False  # add a feature: how irregular the rhythm is around each beat (see rr_irregularity)
    rr_quantile: float = 0.0  # RR references: 0 the means; q in (0, 1) the q-quantiles (see rr_features)
    scale_halfwidth_s: float = 0.05  # R amplitude is the max |x| within this of each peak
    template_channel: bool = False  # add a channel: the beat minus the record's median beat
    template_rr_quantile: float = 0.0  # the median beat of all beats (0), or of the on-time ones (see on_time)
    other_lead: bool = False  # add the record's other lead, as the lead's channels are built (zeros: no other lead)
    min_r_mv: float = 0.05  # detected peaks smaller than this (mV) are noise, not beats
    min_r_rel: float = 0.15  # nor are those under this share of the record's median R amplitude (P and T waves)

    @property
    def lead_channels(self) -> int:
        """Channels per lead: the lead, and with template_channel the lead minus its median beat."""
        return 2 if self.template_channel else 1

    @property
    def leads(self) -> int:
        """Leads the model sees: the lead, and with other_lead the record's other lead."""
        return 2 if self.other_lead else 1

    @property
    def channels(self) -> int:
        """The lead's channels, then (other_lead) the other lead's."""
        return self.lead_channels * self.leads

    @property
    def window(self) -> int:
        return self.pre + self.post

    @property
    def rr_names(self) -> tuple[str, ...]:
        """The names of the RR features, in the order of Beats.rr's columns."""
        return RR_FEATURES + ((RR_IRREGULARITY,) if self.rr_irregularity else ())


@dataclass(frozen=True)
class Beats:
    """Model inputs of one record.

    windows: float32 (beats, channels, window): the filtered lead divided by the record's R amplitude
        (unitless), and with template_channel the same minus the record's median beat; with other_lead then the
        record's other lead built the same way at the same peaks (its own R amplitude and median beat), or zeros
        where the record has no other lead.
    rr: float32 (beats, len(RR_FEATURES)) RR-interval features, seconds or ratios.
    peaks: int64 (beats,) R-peak indices at the model rate. scale_mv: the record's R amplitude in mV.
    """

    windows: np.ndarray
    rr: np.ndarray
    peaks: np.ndarray
    scale_mv: float


def fill_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over invalid (NaN) samples, shape kept."""
    bad = np.isnan(x)
    if not bad.any():
        return x
    good = np.flatnonzero(~bad)
    if good.size == 0:
        raise RecordError("the lead holds no valid sample (all NaN)")
    out = x.copy()
    out[bad] = np.interp(np.flatnonzero(bad), good, x[good])
    return out


def bandpass(x: np.ndarray, fs: float, cfg: PreprocessConfig) -> np.ndarray:
    """Zero-phase Butterworth band-pass between cfg.highpass_hz and cfg.lowpass_hz."""
    from ecgmtl.signal.dsp import butter_bandpass_sos, sosfiltfilt

    high = min(cfg.lowpass_hz, 0.45 * fs)
    sos = butter_bandpass_sos(cfg.filter_order, cfg.highpass_hz, high, fs)
    if x.shape[0] <= 3 * (2 * len(sos) + 1):
        raise RecordError(f"the record is too short to filter ({x.shape[0]} samples at {fs:g} Hz)")
    return sosfiltfilt(sos, x).astype(np.float32)


def prepare_signal(x_mv: np.ndarray, fs_in: float, cfg: PreprocessConfig) -> np.ndarray:
    """One lead in mV at fs_in -> the filtered lead at cfg.fs, float32 of shape (samples,)."""
    return bandpass(resample(fill_nan(np.asarray(x_mv, dtype=np.float64)), fs_in, cfg.fs), cfg.fs, cfg)


def detect_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """R-peak indices (int64) of a filtered lead: neurokit2's QRS detector (method "neurokit"), run by
    ecgmtl.signal.detect without importing neurokit2, then a search-back for beats it missed in long gaps
    (detect.searchback) and the T waves taken for beats dropped (detect.reject_t_waves);
    ECGMTL_DETECTOR=neurokit2 calls the library instead (without either)."""
    import os

    if os.environ.get("ECGMTL_DETECTOR", "").lower() != "neurokit2":
        from ecgmtl.signal.detect import gradient_qrs_peaks, reject_t_waves, searchback

        return reject_t_waves(x, fs, searchback(x, fs, gradient_qrs_peaks(x, fs)))
    import warnings

    import neurokit2 as nk  # 1.5 to 4 s to import

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _, info = nk.ecg_peaks(x, sampling_rate=int(round(fs)), method="neurokit")
        except Exception:  # neurokit2 raises on signals without any beat-like structure
            return np.zeros(0, dtype=np.int64)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def peak_amplitudes(x: np.ndarray, peaks: np.ndarray, fs: float, cfg: PreprocessConfig) -> np.ndarray:
    """max |x| within cfg.scale_halfwidth_s of each peak (mV), shape (beats,)."""
    h = max(1, int(round(cfg.scale_halfwidth_s * fs)))
    padded = np.pad(np.abs(x), h)
    return padded[peaks[:, None] + np.arange(2 * h + 1)[None, :]].max(axis=1)


def r_amplitude(x: np.ndarray, peaks: np.ndarray, fs: float, cfg: PreprocessConfig) -> float:
    """The record's typical R amplitude (mV): the median peak amplitude; 1 when there is no beat."""
    amp = float(np.median(peak_amplitudes(x, peaks, fs, cfg))) if peaks.size else 0.0
    return amp if amp > 1e-3 else 1.0


def beat_windows(x: np.ndarray, peaks: np.ndarray, pre: int, post: int) -> np.ndarray:
    """Windows x[p - pre : p + post] around each peak, zero-padded at the record's ends: (beats, pre + post)."""
    padded = np.pad(x, (pre, post))
    idx = peaks[:, None] + np.arange(pre + post)[None, :]
    return padded[idx].astype(np.float32)


def rr_features(
    peaks: np.ndarray, fs: float, local_beats: int, irregularity: bool = False, quantile: float = 0.0
) -> np.ndarray:
    """RR features (beats, 7), see RR_FEATURES: previous, next and local RR in seconds, each relative to the
    record's RR, and the previous RR relative to the local RR (prematurity).

    The references: with quantile 0, the record's mean RR and the mean of the last `local_beats` RR intervals;
    with quantile q in (0, 1), their q-quantiles. A mean follows the majority of beats: where premature beats are
    the majority (MIT-BIH 232) it is their own interval and they look on time. An upper quantile stays near the
    sinus cycle however many beats come early.
    irregularity: an eighth column, rr_irregularity(prev RR, local_beats // 2)."""
    n = peaks.shape[0]
    if n < 2:
        return np.ones((n, len(RR_FEATURES) + int(irregularity)), dtype=np.float32)
    rr = np.diff(peaks).astype(np.float64) / fs
    prev = np.concatenate([[rr[0]], rr])
    nxt = np.concatenate([rr, [rr[-1]]])
    if quantile:
        local = trailing_quantile(prev, local_beats, quantile)
        ref = float(np.quantile(rr, quantile))
    else:
        csum = np.concatenate([[0.0], np.cumsum(prev)])
        i = np.arange(n)
        lo = np.maximum(0, i - local_beats + 1)
        local = (csum[i + 1] - csum[lo]) / (i + 1 - lo)
        ref = float(np.mean(rr))
    cols = [prev, nxt, local, prev / ref, nxt / ref, local / ref, prev / local]
    if irregularity:
        cols.append(rr_irregularity(prev, max(1, local_beats // 2)))
    return np.stack(cols, axis=1).astype(np.float32)


def trailing_quantile(x: np.ndarray, beats: int, q: float) -> np.ndarray:
    """Per element i, the q-quantile of x[max(0, i - beats + 1) : i + 1] (the first ones over what there is)."""
    head = min(beats - 1, x.shape[0])
    first = [np.quantile(x[: i + 1], q) for i in range(head)]
    rest = np.quantile(np.lib.stride_tricks.sliding_window_view(x, beats), q, axis=1) if x.shape[0] >= beats else []
    return np.concatenate([np.asarray(first, dtype=np.float64), np.asarray(rest, dtype=np.float64)])


def rr_irregularity(rr: np.ndarray, half: int) -> np.ndarray:
    """Per beat, the median |difference of successive RR intervals| over the beats within `half` beats of it,
    divided by their median RR: near 0 in sinus rhythm, even with isolated ectopic beats (a median ignores
    them), and 0.1-0.3 in atrial fibrillation, where a short RR says nothing about an atrial premature beat."""
    d = np.abs(np.diff(rr, prepend=rr[0]))
    d[0] = d[1] if d.shape[0] > 1 else 0.0
    win = 2 * half + 1
    med_d = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(d, half, mode="edge"), win), axis=1)
    med_rr = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(rr, half, mode="edge"), win), axis=1)
    return med_d / np.maximum(med_rr, 1e-6)


def extract_beats(
    x_mv: np.ndarray,
    fs_in: float,
    cfg: PreprocessConfig,
    peaks_in: np.ndarray | None = None,
    margin: int = 0,
    other_mv: np.ndarray | None = None,
) -> Beats:
    """A lead in mV -> beat windows and RR features at the model rate.

    peaks_in: R-peak indices at fs_in (e.g. from annotations); detected when None.
    margin: extra samples on each side of every window, for random shifts in training.
    other_mv: the record's other lead in mV at fs_in (used with cfg.other_lead; None: the record has none).
    """
    x = prepare_signal(x_mv, fs_in, cfg)
    if peaks_in is None:
        peaks = detect_beats(x, cfg)
    else:
        peaks = np.round(np.asarray(peaks_in, dtype=np.float64) * cfg.fs / fs_in).astype(np.int64)
        peaks = np.clip(peaks, 0, x.shape[0] - 1)
    other = prepare_signal(other_mv, fs_in, cfg) if cfg.other_lead and usable(other_mv) else None
    return beats_at(x, peaks, cfg, margin, other)


def usable(x: np.ndarray | None) -> bool:
    """A lead that holds at least one valid sample."""
    return x is not None and bool(np.isfinite(x).any())


def detect_beats(x: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """R peaks of a prepared lead (at cfg.fs), without those below the amplitude floors: cfg.min_r_mv, and
    cfg.min_r_rel of the median amplitude of the peaks (chosen on MIT-BIH DS1: 24 false detections fewer, 9
    beats lost; see studies/LOG.md)."""
    peaks = detect_peaks(x, cfg.fs)
    if not peaks.size:
        return peaks
    amp = peak_amplitudes(x, peaks, cfg.fs, cfg)
    return peaks[(amp >= cfg.min_r_mv) & (amp >= cfg.min_r_rel * np.median(amp))]


def on_time(peaks: np.ndarray, quantile: float) -> np.ndarray:
    """Which beats make the record's median beat: all (quantile 0), or those whose previous RR interval is at
    least the q-quantile of the record's RR intervals. Premature beats come early, and the beat after a pause is
    almost always a sinus beat, so in a record where premature beats are the majority (MIT-BIH 232) the median
    beat stays a sinus beat (DS1, studies/LOG.md 2026-12-07)."""
    keep = np.ones(peaks.shape[0], dtype=bool)
    if quantile and peaks.shape[0] > 2:
        rr = np.diff(peaks)
        prev = np.concatenate([[rr[0]], rr])
        keep = prev >= np.quantile(rr, quantile)
    return keep


def lead_windows(x: np.ndarray, peaks: np.ndarray, cfg: PreprocessConfig, margin: int = 0) -> tuple[np.ndarray, float]:
    """One prepared lead's channels at the peaks, (beats, cfg.lead_channels, window + 2 margin), and its R
    amplitude (mV): the lead over its R amplitude, and with template_channel the same minus its median beat."""
    scale = r_amplitude(x, peaks, cfg.fs, cfg)
    windows = beat_windows(x / scale, peaks, cfg.pre + margin, cfg.post + margin)[:, None, :]
    if cfg.template_channel:
        # Patient-adaptive morphology: what sets a beat apart from this patient's usual beat.
        ref = windows[on_time(peaks, cfg.template_rr_quantile)] if cfg.template_rr_quantile else windows
        template = np.median(ref, axis=0, keepdims=True) if len(ref) else ref
        windows = np.concatenate([windows, windows - template], axis=1)
    return windows, scale


def beats_at(
    x: np.ndarray, peaks: np.ndarray, cfg: PreprocessConfig, margin: int = 0, other: np.ndarray | None = None
) -> Beats:
    """Model inputs at given R peaks of a prepared lead (at cfg.fs); `other`: the record's other lead, prepared
    the same way (cfg.other_lead; None: zeros, as for a one-lead record)."""
    windows, scale = lead_windows(x, peaks, cfg, margin)
    if cfg.other_lead:
        # A second view of each beat (MIT-BIH: mostly V1, where atrial activity shows best).
        extra = lead_windows(other, peaks, cfg, margin)[0] if other is not None else np.zeros_like(windows)
        windows = np.concatenate([windows, extra.astype(windows.dtype)], axis=1)
    rr = rr_features(peaks, cfg.fs, cfg.local_rr_beats, cfg.rr_irregularity, cfg.rr_quantile)
    return Beats(windows, rr, peaks, scale)
