"""Prediction on any WFDB record with an exported model: numpy, scipy, wfdb and onnxruntime only (no torch)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ModelError, RecordError
from .preprocess import PreprocessConfig
from .record import read_record, select_lead
from .runtime import OnnxModel

# Where a default model is looked for: $ECGMTL_MODEL, then the repository's models/ folder.
DEFAULT_MODEL = "mitdb-resnet1d.onnx"
UNCLASSIFIED = "unclassified"  # the label of a beat that failed the quality gate
MIN_GAP_S = 3.0  # a stretch this long without a detected beat is reported (asystole, or a detector failure)


def default_model_path() -> Path:
    env = os.environ.get("ECGMTL_MODEL")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL


def default_model_for(record: str | os.PathLike) -> Path:
    """The shipped model that fits a record's lead set: the 12-lead (PTB-XL) model for a record with at least
    6 of the 12 standard leads, else the beat (MIT-BIH) model."""
    from .predict12 import has_twelve_leads, twelve_lead_model_path

    return twelve_lead_model_path() if has_twelve_leads(record) else default_model_path()


def preprocess_config(meta: dict) -> PreprocessConfig:
    """The preprocessing stored in a model; keys this version does not know mean a newer ecgmtl made it."""
    from dataclasses import fields

    known = {f.name for f in fields(PreprocessConfig)}
    unknown = set(meta["preprocess"]) - known
    if unknown:
        raise ModelError(f"model {meta.get('name')} needs preprocessing this ecgmtl lacks ({', '.join(sorted(unknown))}); "
                         f"upgrade ecgmtl (model made by {meta.get('code_version')})")  # fmt: skip
    return PreprocessConfig(**meta["preprocess"])


def beat_free_segments(peaks_s: np.ndarray, duration_s: float, min_gap_s: float = MIN_GAP_S) -> list[dict]:
    """Stretches of at least min_gap_s seconds with no detected beat, the record's ends included."""
    edges = np.concatenate([[0.0], np.asarray(peaks_s, dtype=np.float64), [duration_s]])
    gaps = np.flatnonzero(np.diff(edges) >= min_gap_s)
    return [{"start_s": round(float(edges[i]), 3), "end_s": round(float(edges[i + 1]), 3)} for i in gaps]


def predict_record(model: OnnxModel, path: str | os.PathLike, lead: str | None = None, keep_arrays: bool = False,
                   timings: dict | None = None, reconstruct_missing: bool = False) -> dict:  # fmt: skip
    """A 12-lead model: see ecgmtl.predict12.predict_twelve (`lead` does not apply). A beat model: detect beats
    in a record (its annotations are not used), classify and reconstruct each, and gate them on signal quality
    (see ecgmtl.quality): a beat that fails is `unclassified`, with its reason.

    Returns a JSON-ready dict: model, record, provider, per-class summary, reconstruction PRD, quality (the
    thresholds and the failed segments), and every beat (sample index at the record's rate, time in s, class,
    class probabilities, reconstruction RMSE, quality: None or why it is unclassified).
    `timings`, when given, receives the seconds spent reading, preprocessing, detecting, in the model, and on
    the quality checks.
    """
    import time

    from .metrics import prd
    from .preprocess import beats_at, detect_beats, prepare_signal
    from .quality import gate_beats, segment_flags, template_correlation

    clock = [time.perf_counter()]
    t = timings if timings is not None else {}

    def lap(stage: str) -> None:
        now = time.perf_counter()
        t[stage] = t.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    if "leads" in model.meta:
        from .predict12 import predict_twelve

        if lead:
            raise RecordError("--lead applies to beat models; a 12-lead model reads all its leads")
        result = predict_twelve(model, path, reconstruct_missing)
        if not keep_arrays and not result["reconstructed_leads"]:
            result.pop("_arrays")
        return result
    if reconstruct_missing:
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
        "record": {"name": rec.name, "path": str(path), "fs": rec.fs, "lead": lead_name,
                   "duration_s": round(rec.duration_s, 3), "samples": int(rec.signal.shape[0])},  # fmt: skip
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
        result["warning"] = f"{len(result['no_beat_segments'])} segment(s) of {MIN_GAP_S:g} s or more with no detectable beat"
    if keep_arrays:  # for the plot; not part of the JSON
        result["_arrays"] = {"fs": pcfg.fs, "filtered": filtered, "peaks": beats.peaks, "pre": pcfg.pre,
                             "reconstruction": recon[:, 0], "scale_mv": beats.scale_mv}  # fmt: skip
    return result


def quality_thresholds(meta: dict):
    """The model's validated thresholds; without them only the segment checks run (beat checks off)."""
    from .quality import QualityThresholds

    if meta.get("quality"):
        return QualityThresholds.from_meta(meta["quality"]), True
    return QualityThresholds(), False


def format_summary(result: dict) -> str:
    lines = [f"record {result['record']['name']}: {result['n_beats']} beats, "
             f"{result['record']['duration_s']:.1f} s, lead {result['record']['lead']}"]  # fmt: skip
    if result.get("warning"):
        lines.append(f"warning: {result['warning']}")
        for seg in result["no_beat_segments"][:10]:
            lines.append(f"  no beat from {seg['start_s']:.1f} s to {seg['end_s']:.1f} s")
    q = result.get("quality", {})
    if q.get("failed_segments"):
        lines.append(f"quality: {q['unclassified_beats']} beats unclassified; {len(q['failed_segments'])} segment(s) failed:")
        for seg in q["failed_segments"][:10]:
            lines.append(f"  {seg['start_s']:.0f}-{seg['end_s']:.0f} s: {', '.join(seg['reasons'])}")
    total = max(result["n_beats"], 1)
    for c, n in result["summary"].items():
        lines.append(f"  {c}: {n:>6d}  ({100 * n / total:5.1f}%)")
    if result["reconstruction"]["prd_percent"] is not None:
        lines.append(f"reconstruction PRD {result['reconstruction']['prd_percent']:.1f}%")
    return "\n".join(lines)


def write_outputs(result: dict, out_dir: Path, beats_csv: bool = False, annotate: bool = False,
                  plot: tuple[float, float] | None = None) -> list[Path]:  # fmt: skip
    """The per-record files asked for, each written atomically into out_dir; plot = (start_s, span_s)."""
    from . import outputs

    written = []
    name = result["record"]["name"]
    arrays = result.pop("_arrays", None)
    if "diagnoses" in result:  # a 12-lead result: the rebuilt record, if leads were rebuilt
        from .predict12 import write_rebuilt

        if beats_csv or annotate or plot is not None:
            raise RecordError("--csv, --annotate and --plot are per-beat outputs of beat models; a 12-lead model "
                              "writes the rebuilt record (--reconstruct-missing) and JSON")  # fmt: skip
        try:
            return write_rebuilt({**result, "_arrays": arrays}, out_dir) if arrays and result["reconstructed_leads"] else []
        except OSError as e:
            raise RecordError(f"cannot write the rebuilt record {name} into {out_dir} ({e.strerror or e})") from None
    try:
        if plot is not None and arrays is not None:
            written.append(outputs.write_plot(result, arrays, out_dir / f"{name}.png", *plot))
        if beats_csv:
            written.append(outputs.write_text(out_dir / f"{name}.beats.csv", outputs.beats_csv(result)))
        if annotate:
            written.append(outputs.write_annotations(result, out_dir))
    except OSError as e:
        raise RecordError(f"cannot write the files of record {name} into {out_dir} ({e.strerror or e})") from None
    return written


def predict_many(model: OnnxModel, paths: list[Path], lead: str | None = None, progress: bool = True,
                 each=None, keep_arrays: bool = False, reconstruct_missing: bool = False) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """predict_record over many records; a record that fails is listed with its reason and the others go on.
    `each(result)` is called after every record that succeeded (to write its files). Returns (results,
    failures); failures hold name, path and a one-line error."""
    import sys

    from tqdm import tqdm

    from .errors import EcgmtlError

    results, failures = [], []
    for p in tqdm(paths, desc="records", unit="record", disable=not progress, file=sys.stderr):
        try:
            res = predict_record(model, p, lead, keep_arrays, reconstruct_missing=reconstruct_missing)
            if each is not None:
                each(res)
            results.append(res)
        except EcgmtlError as e:
            failures.append({"name": Path(p).stem, "path": str(p), "error": str(e)})
        except Exception as e:  # a bug on one odd record must not stop the others; said in one line
            first = (str(e).splitlines() or [""])[0][:200]
            failures.append({"name": Path(p).stem, "path": str(p), "error": f"internal error: {type(e).__name__}: {first}"})
    return results, failures
