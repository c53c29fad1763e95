"""The beat model over a whole record, a chunk at a time (ecgmtl.io.stream): read, filter, detect, classify,
reconstruct and gate each chunk, and keep per beat only a few numbers (a `BeatTable`). The memory is that of
one chunk (30 minutes of one lead) plus about 40 bytes per beat, whatever the record's length.

A chunk is processed as a record of its own, as the model was trained (its R amplitude, mean RR and class
templates are the chunk's), with MARGIN_S seconds of context on each side; its beats are those whose peak
falls in its core. A record up to WHOLE_S long is one chunk: short records give what they always gave.
numpy, scipy, wfdb and onnxruntime only (no torch).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.io.stream import Chunk, LeadSource, open_leads, plan_chunks
from ecgmtl.signal.preprocess import PreprocessConfig

TEMPLATE_BEATS = 300  # beats per class kept (spread over the record) for the morphology templates
TEMPLATE_PRE_S, TEMPLATE_POST_S = 0.25, 0.45
REFRACTORY_S = 0.2  # a beat this close to the last one of the chunk before is the same beat, seen twice


@dataclass
class BeatTable:
    """Every beat of a record: R-peak sample at the record's rate, predicted class index, class probabilities,
    reconstruction RMSE (normalised units), and why the quality gate held it back (None: it did not)."""

    samples: np.ndarray
    pred: np.ndarray
    probs: np.ndarray
    rmse: np.ndarray
    why: list
    amplitude: np.ndarray  # R amplitude relative to the chunk's median R amplitude (1: a typical beat)
    noise: np.ndarray  # the signal's noise around the beat (quality.noise_index): the gate's measure
    corr: np.ndarray  # correlation with the median beat of its class (quality.template_correlation)

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    def labels(self, classes: list[str], unclassified: str = "unclassified") -> list[str]:
        """Each beat's class, or `unclassified` where the gate held it back."""
        return [classes[k] if w is None else unclassified for k, w in zip(self.pred.tolist(), self.why)]


@dataclass
class BeatRun:
    """A record through the beat model: its lead source, the beats, the failed quality segments, the pooled
    reconstruction error, and what the pictures need (the filtered signal of one span, class templates)."""

    source: LeadSource
    lead: str  # the lead asked for (the header may name it by an alias: source.lead)
    pcfg: PreprocessConfig
    classes: list[str]
    table: BeatTable
    failed_segments: list[dict]
    prd_sums: tuple[float, float]  # sum of squared error, sum of squared mean-removed signal
    arrays: dict | None = None
    templates: dict = field(default_factory=dict)  # class -> (median beat in mV at fs_model, beats of the class)


def run_beats(
    model: OnnxModel,
    path: str | os.PathLike,
    lead: str | None = None,
    keep_span: tuple[float, float] | None = None,
    templates: bool = False,
    timings: dict | None = None,
    progress=None,
) -> BeatRun:
    """The beat model over every chunk of a record. keep_span=(start_s, span_s): keep the filtered signal,
    peaks and reconstructions of the chunk holding start_s (for a plot). templates: keep up to TEMPLATE_BEATS
    beats per class and give their median. progress(done_s, total_s) is called after every chunk."""
    from ecgmtl.signal.quality import segment_bounds
    from ecgmtl.tasks.beats.predict import preprocess_config, quality_thresholds

    t = timings if timings is not None else {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        t[stage] = t.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    pcfg = preprocess_config(model.meta)
    src, other = open_leads(path, lead or pcfg.lead)
    lap("read")
    thr = quality_thresholds(model.meta)
    bounds = segment_bounds(src.n_samples, src.fs, thr.segment_s)
    chunks = plan_chunks(bounds, src.fs)
    parts, failed, sums = [], [], [0.0, 0.0]
    arrays = None
    pool = _TemplatePool(len(model.meta["classes"]), src.duration_s) if templates else None
    last_sample = -(10**12)
    for chunk in chunks:
        seg_range = (int(np.searchsorted(bounds, chunk.core_a)), int(np.searchsorted(bounds, chunk.core_b)))
        out = _chunk(model, (src, other), chunk, pcfg, thr, bounds, seg_range, lap)
        keep = out["samples"] > last_sample + REFRACTORY_S * src.fs
        if len(out["samples"]):
            last_sample = int(out["samples"][keep][-1]) if keep.any() else last_sample
        parts.append({k: out[k][keep] for k in _PER_BEAT})
        failed += [s for s in out["segments"] if s["reasons"]]
        sums[0] += out["err"]
        sums[1] += out["ref"]
        if keep_span is not None and arrays is None and chunk.core_a / src.fs <= keep_span[0] < chunk.core_b / src.fs:
            arrays = out["arrays"]
        elif keep_span is not None and arrays is None and chunk.last:
            arrays = out["arrays"]
        if pool is not None:
            pool.add(out, keep, pcfg.fs)
        lap("quality and output")
        if progress is not None:
            progress(chunk.core_b / src.fs, src.duration_s)
    table = BeatTable(
        np.concatenate([p["samples"] for p in parts]),
        np.concatenate([p["pred"] for p in parts]),
        np.concatenate([p["probs"] for p in parts]),
        np.concatenate([p["rmse"] for p in parts]),
        [w for p in parts for w in p["why"].tolist()],
        np.concatenate([p["amplitude"] for p in parts]),
        np.concatenate([p["noise"] for p in parts]),
        np.concatenate([p["corr"] for p in parts]),
    )
    run = BeatRun(src, lead or pcfg.lead, pcfg, list(model.meta["classes"]), table, failed, (sums[0], sums[1]), arrays)
    if pool is not None:
        run.templates = pool.medians(run.classes)
    return run


_PER_BEAT = ("samples", "pred", "probs", "rmse", "why", "amplitude", "noise", "corr")


def _chunk(model, sources: tuple, chunk: Chunk, pcfg, thr, bounds, seg_range, lap) -> dict:
    """One chunk: its core's beats (record-rate samples, class, probabilities, RMSE, gate reason), its
    segments, and its PRD sums. sources: the model's lead and the record's other lead (or None), whose beats
    the detector adds where the model's lead shows none (detect.add_other_lead), and which a model trained
    with preprocess.other_lead also sees (zeros where the record has none)."""
    from ecgmtl.signal.preprocess import beats_at, detect_beats, peak_amplitudes, prepare_signal, usable
    from ecgmtl.signal.quality import gate_beats, noise_index, segment_flags, template_correlation

    src, other = sources
    x = src.read(chunk.read_a, chunk.read_b)
    x2 = other.read(chunk.read_a, chunk.read_b) if other is not None else None
    lap("read")
    valid = np.isfinite(x).any()
    filtered = prepare_signal(x, src.fs, pcfg) if valid else np.zeros(int(len(x) * pcfg.fs / src.fs), np.float32)
    off_m = int(round(chunk.read_a * pcfg.fs / src.fs))
    lap("preprocess")
    filtered2 = prepare_signal(x2, src.fs, pcfg) if valid and usable(x2) else None
    peaks = detect_beats(filtered, pcfg) if valid else np.zeros(0, np.int64)
    if filtered2 is not None:
        peaks = _with_other_lead(peaks, filtered2, pcfg)
    lap("detect")
    beats = beats_at(filtered, peaks, pcfg, other=filtered2 if pcfg.other_lead else None)
    samples_all = np.round((beats.peaks + off_m) * src.fs / pcfg.fs).astype(np.int64)
    core = (samples_all >= chunk.core_a) & (samples_all < chunk.core_b)
    windows, rr = beats.windows[core], beats.rr[core]
    lap("preprocess")
    probs, recon = model.run(windows, rr)
    pred = probs.argmax(axis=1)
    lap("model")
    rmse = np.sqrt(np.mean((recon[:, 0] - windows[:, 0]) ** 2, axis=1))  # on the lead (channel 0)
    w0 = windows[:, 0].astype(np.float64)
    err = float(np.sum((w0 - recon[:, 0]) ** 2))
    ref = float(np.sum((w0 - w0.mean(axis=1, keepdims=True)) ** 2))
    samples = samples_all[core]
    segments = segment_flags(x, src.fs, filtered, pcfg.fs, beats.peaks, thr, bounds, seg_range, chunk.read_a)
    peaks_core = beats.peaks[core]
    noise = noise_index(filtered, beats.peaks, pcfg.fs, beats.scale_mv)[core]
    why = gate_beats(samples / src.fs, noise, segments, thr)
    return {
        "samples": samples,
        "pred": pred.astype(np.int16),
        "probs": probs.astype(np.float32),
        "rmse": rmse.astype(np.float32),
        "why": np.array(why, dtype=object),
        "amplitude": (peak_amplitudes(filtered, peaks_core, pcfg.fs, pcfg) / beats.scale_mv).astype(np.float32),
        "noise": noise,
        "corr": template_correlation(windows[:, 0], pred),
        "peaks_local": peaks_core,  # indices into filtered, for the template pool
        "segments": segments,
        "err": err,
        "ref": ref,
        "filtered": filtered,
        "arrays": {
            "fs": pcfg.fs,
            "offset": off_m,  # filtered[0] is sample `offset` at the model rate
            "filtered": filtered,
            "peaks": peaks_core + off_m,
            "pre": pcfg.pre,
            "reconstruction": recon[:, 0],
            "scale_mv": beats.scale_mv,
        },
    }


def _with_other_lead(peaks: np.ndarray, filtered2: np.ndarray, pcfg) -> np.ndarray:
    from ecgmtl.signal.detect import add_other_lead
    from ecgmtl.signal.preprocess import detect_beats, peak_amplitudes

    p2 = detect_beats(filtered2, pcfg)
    return add_other_lead(peaks, p2, peak_amplitudes(filtered2, p2, pcfg.fs, pcfg), pcfg.fs)


class _TemplatePool:
    """Up to TEMPLATE_BEATS filtered beats (mV) per class, taken evenly over the record's duration."""

    def __init__(self, n_classes: int, duration_s: float):
        self.beats: list[list[np.ndarray]] = [[] for _ in range(n_classes)]
        self.counts = np.zeros(n_classes, np.int64)
        self.duration_s = max(duration_s, 1.0)

    def add(self, out: dict, keep: np.ndarray, fs: float) -> None:
        clean = keep & (out["why"] == None)  # noqa: E711 (elementwise): held-back beats are noise, not morphology
        x, idx, pred = out["filtered"], out["peaks_local"][clean], out["pred"][clean]
        pre, post = int(TEMPLATE_PRE_S * fs), int(TEMPLATE_POST_S * fs)
        ok = (idx - pre >= 0) & (idx + post <= len(x))
        for k in np.unique(pred):
            members = idx[(pred == k) & ok]
            self.counts[k] += int((pred == k).sum())
            room = TEMPLATE_BEATS - len(self.beats[k])
            if room <= 0 or not members.size:
                continue
            step = max(1, members.size // max(1, room // 4))  # spread over the chunk; leave room for later chunks
            take = members[::step][:room]
            self.beats[k].append(x[take[:, None] + np.arange(-pre, post)[None, :]])

    def medians(self, classes: list[str]) -> dict:
        return {
            classes[k]: (np.median(np.concatenate(b), axis=0), int(self.counts[k]))
            for k, b in enumerate(self.beats)
            if b
        }


def filtered_span(run: BeatRun, start_s: float, stop_s: float, margin_s: float = 5.0) -> np.ndarray:
    """The lead filtered as the model sees it (mV at the model rate) from start_s to stop_s, read again from
    the record (with margin_s of context for the filter): a strip for a picture, without keeping the record."""
    from ecgmtl.signal.preprocess import prepare_signal

    src, fs_m = run.source, run.pcfg.fs
    a = max(0, int((start_s - margin_s) * src.fs))
    b = min(src.n_samples, int(np.ceil((stop_s + margin_s) * src.fs)))
    x = src.read(a, b)
    if not np.isfinite(x).any():
        return np.full(int(round((stop_s - start_s) * fs_m)), np.nan, np.float32)
    y = prepare_signal(x, src.fs, run.pcfg)
    i = int(round((start_s - a / src.fs) * fs_m))
    return y[i : i + int(round((stop_s - start_s) * fs_m))]
