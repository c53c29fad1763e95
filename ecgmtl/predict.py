"""Prediction on any WFDB record with an exported model: numpy, scipy, wfdb and onnxruntime only (no torch)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .preprocess import PreprocessConfig, extract_beats
from .record import read_record, select_lead
from .runtime import OnnxModel

# Where a default model is looked for: $ECGMTL_MODEL, then the repository's models/ folder.
DEFAULT_MODEL = "mitdb-resnet1d.onnx"


def default_model_path() -> Path:
    env = os.environ.get("ECGMTL_MODEL")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL


def preprocess_config(meta: dict) -> PreprocessConfig:
    return PreprocessConfig(**meta["preprocess"])


def predict_record(model: OnnxModel, path: str | os.PathLike, lead: str | None = None) -> dict:
    """Detect beats in a record (its annotations are not used), classify and reconstruct each.

    Returns a JSON-ready dict: model, record, provider, per-class summary, reconstruction PRD, and every beat
    (sample index at the record's rate, time in s, class, class probabilities, reconstruction RMSE).
    """
    from .metrics import prd

    pcfg = preprocess_config(model.meta)
    rec = read_record(path, annotations=False)
    lead_name = lead or pcfg.lead
    x = select_lead(rec, lead_name)
    beats = extract_beats(x, rec.fs, pcfg)
    classes = model.meta["classes"]
    probs, recon = model.run(beats.windows, beats.rr)
    pred = probs.argmax(axis=1)
    rmse = np.sqrt(np.mean((recon - beats.windows) ** 2, axis=(1, 2)))
    samples = np.round(beats.peaks * rec.fs / pcfg.fs).astype(np.int64)
    beat_list = [
        {
            "sample": int(s),
            "time_s": round(float(s) / rec.fs, 4),
            "class": classes[k],
            "probabilities": {c: round(float(p), 5) for c, p in zip(classes, pr)},
            "reconstruction_rmse": round(float(e), 5),
        }
        for s, k, pr, e in zip(samples, pred, probs, rmse)
    ]
    counts = np.bincount(pred, minlength=len(classes))
    result = {
        "model": {"name": model.name, "version": model.meta["code_version"], "file": str(model.path)},
        "record": {"name": rec.name, "path": str(path), "fs": rec.fs, "lead": lead_name,
                   "duration_s": round(rec.duration_s, 3), "samples": int(rec.signal.shape[0])},  # fmt: skip
        "provider": model.provider,
        "summary": {c: int(n) for c, n in zip(classes, counts)},
        "n_beats": len(beat_list),
        "reconstruction": {
            "prd_percent": None if not len(beat_list) else round(prd(beats.windows, recon), 3),
            "form": "mean-removed PRD pooled over beat windows",
        },
        "beats": beat_list,
    }
    if not beat_list:
        result["warning"] = "no detectable beat in this record"
    return result


def format_summary(result: dict) -> str:
    lines = [f"record {result['record']['name']}: {result['n_beats']} beats, "
             f"{result['record']['duration_s']:.1f} s, lead {result['record']['lead']}"]  # fmt: skip
    if result.get("warning"):
        lines.append(f"warning: {result['warning']}")
    total = max(result["n_beats"], 1)
    for c, n in result["summary"].items():
        lines.append(f"  {c}: {n:>6d}  ({100 * n / total:5.1f}%)")
    if result["reconstruction"]["prd_percent"] is not None:
        lines.append(f"reconstruction PRD {result['reconstruction']['prd_percent']:.1f}%")
    return "\n".join(lines)
