"""The beat model's exported graph: normalised beat windows and raw RR features in, softmax probabilities
(temperature-scaled) and the reconstruction out, hard constraints in the graph; calibration and quality
thresholds fitted on the run's validation records at export."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecgmtl.errors import RecordError
from ecgmtl.mtl.constraints import HardProjection, declared_constraints

ATTRIBUTION = (
    "Trained on the MIT-BIH Arrhythmia Database (Moody & Mark 2001, ODC-By 1.0) from PhysioNet "
    "(Goldberger et al. 2000)."
)


class Deployable(nn.Module):
    """What the ONNX graph computes, constraints included.

    x: (batch, channels, window) normalised beat windows (see PreprocessConfig.template_channel); rr: (batch, n_rr) raw RR features (s and ratios).
    Returns probabilities (batch, n_classes), a softmax, so they are >= 0 and sum to 1, and the
    reconstruction (batch, channels, window) projected into the amplitude range seen in training.
    """

    def __init__(self, model: nn.Module, meta: dict, conv2d: bool = False) -> None:
        """conv2d: compute with the model's 2-D twin (see ecgmtl.models.conv2d), the form that is exported
        where the model allows it; the function is the same."""
        from ecgmtl.models.conv2d import as_conv2d, convertible

        super().__init__()
        self.conv2d = conv2d and convertible(model)
        self.model = as_conv2d(model) if self.conv2d else model
        self.graph_form = "2-D convolutions (1 x k)" if self.conv2d else "1-D convolutions"
        self.register_buffer("rr_mean", torch.tensor(meta["rr_mean"], dtype=torch.float32))
        self.register_buffer("rr_std", torch.tensor(meta["rr_std"], dtype=torch.float32))
        self.project = HardProjection(declared_constraints(meta), len(meta["classes"]))
        self.temperature = float(meta.get("calibration", {}).get("temperature", 1.0))

    def forward(self, x: torch.Tensor, rr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rr = (rr - self.rr_mean) / self.rr_std
        if self.conv2d:
            out = self.model(x.unsqueeze(2), rr)
            recon = out["reconstruction"].squeeze(2)
        else:
            out = self.model(x, rr)
            recon = out["reconstruction"]
        return self.project(torch.softmax(out["logits"] / self.temperature, dim=-1), recon)


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


def example_inputs(meta: dict) -> tuple[dict[str, torch.Tensor], tuple[dict, ...]]:
    """256 random beat windows and RR features around the training statistics; the batch is dynamic. `meta`:
    a checkpoint's (in_leads, window) or an exported model's (inputs)."""
    g = torch.Generator().manual_seed(0)
    channels, window = meta["inputs"]["x"][1:] if "inputs" in meta else (meta["in_leads"], meta["window"])
    x = torch.randn(256, channels, window, generator=g) * 0.5
    rr = torch.tensor(meta["rr_mean"]) + torch.randn(256, len(meta["rr_mean"]), generator=g) * torch.tensor(
        meta["rr_std"]
    )
    batch = torch.export.Dim("batch", min=1)
    return {"x": x, "rr": rr}, ({0: batch}, {0: batch})
