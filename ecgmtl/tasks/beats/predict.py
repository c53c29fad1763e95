"""Prediction on any WFDB record with an exported model: numpy, scipy, wfdb and onnxruntime only (no torch)."""

from __future__ import annotations

import os

import numpy as np

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import ModelError, RecordError
from ecgmtl.io.record import read_record, select_lead
from ecgmtl.signal.preprocess import PreprocessConfig
from ecgmtl.tasks.base import PredictOptions

UNCLASSIFIED = "unclassified"  # the label of a beat that failed the quality gate
MIN_GAP_S = 3.0  # a stretch this long without a detected beat is reported (asystole, or a detector failure)


def preprocess_config(meta: dict) -> PreprocessConfig:
    """The preprocessing stored in a model; keys this version does not know mean a newer ecgmtl made it."""
    from dataclasses import fields

    known = {f.name for f in fields(PreprocessConfig)}
    unknown = set(meta["preprocess"]) - known
    if unknown:
        raise ModelError(
            f"model {meta.get('name')} needs preprocessing this ecgmtl lacks ({', '.join(sorted(unknown))}); "
            f"upgrade ecgmtl (model made by {meta.get('code_version')})"
        )
    return PreprocessConfig(**meta["preprocess"])


def beat_free_segments(peaks_s: np.ndarray, duration_s: float, min_gap_s: float = MIN_GAP_S) -> list[dict]:
    """Stretches of at least min_gap_s seconds with no detected beat, the record's ends included."""
    edges = np.concatenate([[0.0], np.asarray(peaks_s, dtype=np.float64), [duration_s]])
    gaps = np.flatnonzero(np.diff(edges) >= min_gap_s)
    return [{"start_s": round(float(edges[i]), 3), "end_s": round(float(edges[i + 1]), 3)} for i in gaps]


def predict_beats(model: OnnxModel, path: str | os.PathLike, opts: PredictOptions) -> dict:
    """Detect beats in a record (its annotations are not used), classify and reconstruct each, and gate them on signal quality
    (see ecgmtl.quality): a beat that fails is `unclassified`, with its reason.

    Returns a JSON-ready dict: model, record, provider, per-class summary, reconstruction PRD, quality (the
    thresholds and the failed segments), and every beat (sample index at the record's rate, time in s, class,
    class probabilities, reconstruction RMSE, quality: None or why it is unclassified).
    `opts.timings`, when given, receives the seconds spent reading, preprocessing, detecting, in the model, and
    on the quality checks.
    """
    import time

    from ecgmtl.metrics import prd
    from ecgmtl.signal.preprocess import beats_at, detect_beats, prepare_signal
    from ecgmtl.signal.quality import gate_beats, segment_flags, template_correlation

    clock = [time.perf_counter()]
    t = opts.timings if opts.timings is not None else {}
    lead, keep_arrays = opts.lead, opts.keep_arrays

    def lap(stage: str) -> None:
        now = time.perf_counter()
        t[stage] = t.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    if opts.reconstruct_missing:
        raise RecordError("--reconstruct-missing applies to 12-lead models (the beat model reads one lead)")
    pcfg = preprocess_config(model.meta)
    rec = read_record(path, annotations=False)
    lead_name = lead or pcfg.lead
    x = select_lead(rec, lead_name)
    lap("read")
    filtered = prepare_signal(x, rec.fs, pcfg)
    lap("preprocess")
    peaks = detect_beats(filtered, pcfg)
    lap("detect")
    beats = beats_at(filtered, peaks, pcfg)
    lap("preprocess")
    classes = model.meta["classes"]
    probs, recon = model.run(beats.windows, beats.rr)
    pred = probs.argmax(axis=1)
    lap("model")
    rmse = np.sqrt(np.mean((recon[:, 0] - beats.windows[:, 0]) ** 2, axis=1))  # on the lead (channel 0)
    samples = np.round(beats.peaks * rec.fs / pcfg.fs).astype(np.int64)
    thr, validated = quality_thresholds(model.meta)
    segments = segment_flags(x, rec.fs, filtered, pcfg.fs, beats.peaks, thr)
    why = gate_beats(samples / rec.fs, template_correlation(beats.windows[:, 0], pred), rmse, segments, thr)
    labels = [classes[k] if w is None else UNCLASSIFIED for k, w in zip(pred, why)]
    beat_list = [
        {
            "sample": int(s),
            "time_s": round(float(s) / rec.fs, 4),
            "class": c,
            "probabilities": {k: round(float(p), 5) for k, p in zip(classes, pr)},
            "reconstruction_rmse": round(float(e), 5),
            "quality": w,
        }
        for s, c, pr, e, w in zip(samples, labels, probs, rmse, why)
    ]
    failed = [seg for seg in segments if seg["reasons"]]
    result = {
        "model": {"name": model.name, "version": model.meta["code_version"], "file": str(model.path)},
        "record": {
            "name": rec.name,
            "path": str(path),
            "fs": rec.fs,
            "lead": lead_name,
            "duration_s": round(rec.duration_s, 3),
            "samples": int(rec.signal.shape[0]),
        },
        "provider": model.provider,
        "summary": {c: labels.count(c) for c in [*classes, UNCLASSIFIED]},
        "n_beats": len(beat_list),
        "reconstruction": {
            "prd_percent": None if not len(beat_list) else round(prd(beats.windows[:, 0], recon[:, 0]), 3),
            "form": "mean-removed PRD of the lead, pooled over beat windows (normalised units)",
        },
        "quality": {
            "thresholds": thr.to_meta(),  # None: that check is off
            "beat_checks": "on" if validated else "off: this model carries no validated quality thresholds",
            "unclassified_beats": labels.count(UNCLASSIFIED),
            "failed_segments": failed,
        },
        "beats": beat_list,
    }
    if rec.warnings:
        result["record"]["warnings"] = list(rec.warnings)
    lap("quality and output")
    result["no_beat_segments"] = beat_free_segments(samples / rec.fs, rec.duration_s)
    if not beat_list:
        result["warning"] = "no detectable beat in this record"
    elif result["no_beat_segments"]:
        result["warning"] = (
            f"{len(result['no_beat_segments'])} segment(s) of {MIN_GAP_S:g} s or more with no detectable beat"
        )
    if keep_arrays:  # for the plot; not part of the JSON
        result["_arrays"] = {
            "fs": pcfg.fs,
            "filtered": filtered,
            "peaks": beats.peaks,
            "pre": pcfg.pre,
            "reconstruction": recon[:, 0],
            "scale_mv": beats.scale_mv,
        }
    return result


def quality_thresholds(meta: dict):
    """The model's validated thresholds; without them only the segment checks run (beat checks off)."""
    from ecgmtl.signal.quality import QualityThresholds

    if meta.get("quality"):
        return QualityThresholds.from_meta(meta["quality"]), True
    return QualityThresholds(), False


def format_summary(result: dict) -> str:
    lines = [
        f"record {result['record']['name']}: {result['n_beats']} beats, "
        f"{result['record']['duration_s']:.1f} s, lead {result['record']['lead']}"
    ]
    if result.get("warning"):
        lines.append(f"warning: {result['warning']}")
        for seg in result["no_beat_segments"][:10]:
            lines.append(f"  no beat from {seg['start_s']:.1f} s to {seg['end_s']:.1f} s")
    q = result.get("quality", {})
    if q.get("failed_segments"):
        lines.append(
            f"quality: {q['unclassified_beats']} beats unclassified; {len(q['failed_segments'])} segment(s) failed:"
        )
        for seg in q["failed_segments"][:10]:
            lines.append(f"  {seg['start_s']:.0f}-{seg['end_s']:.0f} s: {', '.join(seg['reasons'])}")
    total = max(result["n_beats"], 1)
    for c, n in result["summary"].items():
        lines.append(f"  {c}: {n:>6d}  ({100 * n / total:5.1f}%)")
    if result["reconstruction"]["prd_percent"] is not None:
        lines.append(f"reconstruction PRD {result['reconstruction']['prd_percent']:.1f}%")
    return "\n".join(lines)
