"""The beat model's exported graph: normalised beat windows and raw RR features in, softmax probabilities
(temperature-scaled) and the reconstruction out, hard constraints in the graph; calibration and quality
thresholds fitted on the run's validation records at export."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecgmtl.errors import RecordError

ATTRIBUTION = (
    "Trained on the MIT-BIH Arrhythmia Database (Moody & Mark 2001, ODC-By 1.0) from PhysioNet "
    "(Goldberger et al. 2000)."
)


def metadata(ck: dict) -> dict:
    """What beat prediction needs beyond the common metadata (ecgmtl.deploy.onnx.common_metadata)."""
    cfg, meta = ck["config"], ck["meta"]
    return {
        "inputs": {
            "x": ["batch", meta["in_leads"], cfg["preprocess"]["pre"] + cfg["preprocess"]["post"]],
            "rr": ["batch", len(meta["rr_features"])],
        },
        "preprocess": cfg["preprocess"],
        "rr_features": meta["rr_features"],
        "rr_mean": meta["rr_mean"],
        "rr_std": meta["rr_std"],
        "probabilities": "softmax",  # >= 0 and summing to 1 by construction, before any declared constraint
        "calibration": meta.get("calibration", {"temperature": 1.0, "fitted": False}),
        "quality": meta.get("quality"),  # None: exported without validation data, beat quality checks off
        "train_records": meta["train_records"],
        "val_records": meta["val_records"],
        "val": meta["val"],
    }


def validation_calibration(model: nn.Module, cfg, meta: dict, data_dir: str | None = None) -> dict:
    """Temperature scaling fitted on the run's validation records (annotated beats), with ECE before/after."""
    from ecgmtl.data.mitdb import load_beats
    from ecgmtl.data.paths import cache_dir, data_root, database_dir
    from ecgmtl.deploy.calibration import calibrate

    db = database_dir(data_root(data_dir or cfg.data.data_dir), "mitdb")
    ds = load_beats(db, list(meta["val_records"]), cfg.preprocess, cache_dir(cfg.data.cache_dir))
    rr = (ds.rr - np.asarray(meta["rr_mean"], np.float32)) / np.asarray(meta["rr_std"], np.float32)
    with torch.no_grad():
        logits = (
            torch.cat(
                [
                    model(torch.from_numpy(ds.windows[s : s + 4096]), torch.from_numpy(rr[s : s + 4096]))["logits"]
                    for s in range(0, len(ds.labels), 4096)
                ]
            )
            .double()
            .numpy()
        )
    return {**calibrate(logits, ds.labels), "fitted": True, "records": list(meta["val_records"])}


def validation_quality(cfg, meta: dict, data_dir: str | None = None) -> dict:
    """The gate's thresholds (the defaults: they judge the signal, not the model) and, on the validation
    records through the prediction path (detected beats), the share of their beats the beat check holds back."""
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.io.record import read_record, select_lead
    from ecgmtl.signal.preprocess import extract_beats, prepare_signal
    from ecgmtl.signal.quality import QualityThresholds, noise_index

    thr = QualityThresholds()
    db = database_dir(data_root(data_dir or cfg.data.data_dir), "mitdb")
    noise = []
    for name in meta["val_records"]:
        rec = read_record(db / name, annotations=False)
        x = select_lead(rec, cfg.preprocess.lead)
        beats = extract_beats(x, rec.fs, cfg.preprocess)
        noise.append(
            noise_index(prepare_signal(x, rec.fs, cfg.preprocess), beats.peaks, cfg.preprocess.fs, beats.scale_mv)
        )
    noise = np.concatenate(noise)
    held = float(np.mean(~(noise <= thr.max_noise))) if thr.max_noise is not None and noise.size else 0.0
    return {**thr.to_meta(), "records": list(meta["val_records"]), "beats": int(noise.size), "held_back_share": held}


def prepare(task, ck: dict, model: nn.Module, cfg, calibrate: bool, data_dir: str | None) -> None:
    """With `calibrate`, a softmax temperature fitted on the run's validation records (this needs the MIT-BIH
    data), which goes into the graph and the metadata, then the quality thresholds through that graph."""
    meta = ck["meta"]
    meta.setdefault("window", cfg.preprocess.window)  # for example_inputs
    if not calibrate:
        return
    try:
        meta["calibration"] = validation_calibration(model, cfg, meta, data_dir)
    except RecordError as e:
        raise RecordError(
            f"{e} (calibration reads the run's validation records; give --data-dir, or export with --no-calibrate)"
        ) from None
    meta["quality"] = validation_quality(cfg, meta, data_dir)
