"""Prediction on any WFDB record with an exported model: numpy, scipy, wfdb and onnxruntime only (no torch)."""

from __future__ import annotations

import os

import numpy as np

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import ModelError, RecordError
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
    (see ecgmtl.quality): a beat that fails is `unclassified`, with its reason. A long record is processed a
    chunk at a time (ecgmtl.tasks.beats.engine).

    Returns a JSON-ready dict: model, record, provider, per-class summary, reconstruction PRD, quality (the
    thresholds and the failed segments), and every beat (sample index at the record's rate, time in s, class,
    class probabilities, reconstruction RMSE, quality: None or why it is unclassified).
    `opts.timings`, when given, receives the seconds spent reading, preprocessing, detecting, in the model, and
    on the quality checks.
    """
    from ecgmtl.tasks.beats.engine import run_beats

    if opts.reconstruct_missing:
        raise RecordError("--reconstruct-missing applies to 12-lead models (the beat model reads one lead)")
    plot = opts.outputs.get("plot") if opts.keep_arrays else None
    keep = (tuple(plot) if plot else (0.0, 0.0)) if opts.keep_arrays else None
    run = run_beats(model, path, opts.lead, keep_span=keep, timings=opts.timings)
    result = result_of(model, run, path)
    if opts.keep_arrays:  # for the plot; not part of the JSON
        result["_arrays"] = run.arrays
    return result


def result_of(model: OnnxModel, run, path: str | os.PathLike, beats: bool = True) -> dict:
    """The JSON-ready prediction of a BeatRun (engine.run_beats); beats=False leaves out the per-beat list
    (a Holter report keeps the beats as a table)."""
    src, tab, classes = run.source, run.table, run.classes
    thr = quality_thresholds(model.meta)
    labels = tab.labels(classes, UNCLASSIFIED)
    counts = dict.fromkeys([*classes, UNCLASSIFIED], 0)
    for c in labels:
        counts[c] += 1
    err, ref = run.prd_sums
    result = {
        "model": {"name": model.name, "version": model.meta["code_version"], "file": str(model.path)},
        "record": {
            "name": src.name,
            "path": str(path),
            "fs": src.fs,
            "lead": run.lead,
            "duration_s": round(src.duration_s, 3),
            "samples": int(src.n_samples),
        },
        "provider": model.provider,
        "summary": counts,
        "n_beats": len(tab),
        "reconstruction": {
            "prd_percent": None if not len(tab) or ref <= 0 else round(float(100.0 * np.sqrt(err / ref)), 3),
            "form": "mean-removed PRD of the lead, pooled over beat windows (normalised units)",
        },
        "quality": {
            "thresholds": thr.to_meta(),  # None: that check is off
            "beat_checks": "off" if thr.max_noise is None else "noise around each beat (judged on the signal)",
            "unclassified_beats": counts[UNCLASSIFIED],
            "failed_segments": run.failed_segments,
        },
    }
    if beats:
        result["beats"] = [
            {
                "sample": s,
                "time_s": round(s / src.fs, 4),
                "class": c,
                "probabilities": {k: round(p, 5) for k, p in zip(classes, pr)},
                "reconstruction_rmse": round(e, 5),
                "quality": w,
            }
            for s, c, pr, e, w in zip(tab.samples.tolist(), labels, tab.probs.tolist(), tab.rmse.tolist(), tab.why)
        ]
    if src.warnings:
        result["record"]["warnings"] = list(src.warnings)
    result["no_beat_segments"] = beat_free_segments(tab.samples / src.fs, src.duration_s)
    if not len(tab):
        result["warning"] = "no detectable beat in this record"
    elif result["no_beat_segments"]:
        result["warning"] = (
            f"{len(result['no_beat_segments'])} segment(s) of {MIN_GAP_S:g} s or more with no detectable beat"
        )
    return result


def quality_thresholds(meta: dict):
    """The gate's thresholds: the model's where its metadata sets them, else the defaults (the checks judge
    the signal, so they do not depend on the model; the keys of older models' morphology checks are ignored)."""
    from ecgmtl.signal.quality import QualityThresholds

    return QualityThresholds.from_meta(meta.get("quality"))


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
