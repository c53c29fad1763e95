"""The restoration model's exported graph: segments of one lead, filtered as the model was trained (mV at the
model rate, band-passed); inside the graph the model, the sigmoid of the S/V head, and the hard constraints
(the restored amplitude clamped to the bounds, a margin over the clean training range)."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.mtl.constraints import HardProjection, declared_constraints

ATTRIBUTION = (
    "Trained on the MIT-BIH Arrhythmia Database (Moody & Mark 2001, ODC-By 1.0) and the first half of the "
    "MIT-BIH Noise Stress Test Database's ma and bw records (Moody, Muldrow & Mark 1984, ODC-By 1.0), from "
    "PhysioNet (Goldberger et al. 2000); DS1 records only."
)


class Deployable(nn.Module):
    """x: (batch, 1, samples) a lead's segments, filtered, in mV (samples a multiple of `pad_multiple`, or
    padded inside the model). Returns the probabilities (batch, 2) that the segment holds an S or a V beat,
    and the restored segments (batch, 1, samples), clamped to the graph's amplitude bounds."""

    def __init__(self, model: nn.Module, meta: dict) -> None:
        super().__init__()
        self.model = model
        self.project = HardProjection(declared_constraints(meta), len(meta["classes"]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(x)
        return self.project(torch.sigmoid(out["logits"]), out["reconstruction"])


def metadata(ck: dict) -> dict:
    cfg, meta = ck["config"], ck["meta"]
    return {
        "inputs": {"x": ["batch", 1, "samples"]},
        "input_units": "mV, the lead resampled to fs and band-passed (preprocess)",
        "fs": meta["fs"],
        "window": meta["window"],
        "preprocess": cfg["preprocess"],
        "probabilities": "sigmoid (multi-label): the segment holds an S beat, a V beat",
        "restoration": "the clean band-passed lead, mV",
        "data": {k: cfg["data"][k] for k in ("train", "val", "crop_s", "noise_prob", "noise_snr_db", "artefact_prob")},
        "train_records": meta["train_records"],
        "val_records": meta["val_records"],
        "train_noise": meta["train_noise"],
        "val": {k: v for k, v in meta.get("val", {}).items() if k != "per_class"},
        "gate": meta.get("gate", {"d": 0.0}),
    }


def example_inputs(meta: dict) -> tuple[dict[str, torch.Tensor], tuple[dict, ...]]:
    """4 random segments of the training window; batch and samples are dynamic (samples a multiple of 16)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, int(meta["window"]), generator=g) * 0.3
    return {"x": x}, ({0: torch.export.Dim("batch", min=1), 2: 16 * torch.export.Dim("blocks", min=4, max=4096)},)


def gate_candidates():
    """The gates export chooses among (engine.Gate): the Wiener-like gain (p = 1) at several distortion levels,
    and switches (p = 2, 4) at several local SNRs 1 / d, each over 1, 2 or 4-s windows."""
    from ecgmtl.tasks.restore.engine import Gate

    wiener = [Gate(d) for d in (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)]
    switches = [
        Gate(d, w, p) for p in (2.0, 4.0) for d in (0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0) for w in (1.0, 2.0, 4.0)
    ]
    return wiener + switches


class _TorchRunner:
    """The exported graph's function in torch, with OnnxModel's `run` and `meta` (for the calibration)."""

    def __init__(self, model: nn.Module, meta: dict) -> None:
        self.graph, self.meta = Deployable(model, meta).eval(), meta

    def run(self, x):
        with torch.no_grad():
            p, r = self.graph(torch.from_numpy(x))
        return p.numpy(), r.numpy()


def choose_gate(model, val_records: list[str], data_dir: str | None, candidates=None) -> dict:
    """The gate (engine.Gate) chosen on the validation records (DS1, noise from the first half of each NSTDB
    record): the candidate whose worst margin over the better baseline, across noise types and input SNRs
    0-24 dB, is largest (then the largest mean margin). `model` runs the exported graph (OnnxModel or the
    torch graph) and its meta's own gate is ignored. Returns the gate's fields with each candidate's worst and
    mean margin."""
    import numpy as np

    from ecgmtl.tasks.restore.evaluate import evaluate_restoration

    names = {g.name: g for g in (candidates or gate_candidates())}
    rep = evaluate_restoration(model, "DS1", data_dir, list(val_records), names)
    by = {(r["noise"], r["snr_db"], r["method"]): r["out_snr_db"] for r in rep["rows"]}
    cells = sorted({(n, s) for n, s, _ in by if 0.0 <= s <= 24.0})
    table = {}
    for name in names:
        margins = [by[(n, s, name)] - max(by[(n, s, "band-pass")], by[(n, s, "wavelet")]) for n, s in cells]
        table[name] = {"worst_margin_db": float(min(margins)), "mean_margin_db": float(np.mean(margins))}
    best = max(names, key=lambda k: (table[k]["worst_margin_db"], table[k]["mean_margin_db"]))
    g = names[best]
    return {
        "d": g.d,
        "window_s": g.window_s,
        "power": g.power,
        "chosen_on": f"DS1 validation records {', '.join(val_records)}, NSTDB first half",
        "candidates": table,
    }


def calibrate_gate(ck: dict, model: nn.Module, cfg, data_dir: str | None) -> None:
    """Choose the gate on the validation records (choose_gate) and store it in ck["meta"]["gate"]."""
    meta = {**ck["meta"], "preprocess": ck["config"]["preprocess"], "gate": {"d": 0.0}}
    val = list(ck["meta"]["val_records"])
    ck["meta"]["gate"] = choose_gate(_TorchRunner(model, meta), val, data_dir)
