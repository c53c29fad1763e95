"""The 12-lead model's exported graph: a batch of records as their sliding windows in mV; inside the graph the
standardisation, the model, the sigmoid, the maximum over windows and the hard constraints."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.mtl.constraints import HardProjection, declared_constraints

ATTRIBUTION = (
    "Trained on PTB-XL (Wagner et al. 2020, CC-BY 4.0) from PhysioNet (Goldberger et al. 2000); folds 1-8 of "
    "the records used, fold 9 for the checkpoint and thresholds."
)


class RecordDeployable(nn.Module):
    """What a 12-lead (PTB-XL) model's ONNX graph computes: a batch of records, each as its sliding windows.

    x: (records, windows, leads, window) in mV, leads in the model's order (a hidden lead: its training mean,
    `lead_mean`, which is 0 after standardisation, as in lead-masking training). Returns the record-level
    probabilities (records, classes): the maximum over windows of the sigmoid outputs, then the hard
    constraints (p(NORM) + max p(other) <= 1 holds for what the user sees), and the reconstruction (records,
    windows, leads, window) in mV, clamped to the range seen in training."""

    def __init__(self, model: nn.Module, meta: dict) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(meta["lead_mean"], dtype=torch.float32)[:, None])
        self.register_buffer("std", torch.tensor(meta["lead_std"], dtype=torch.float32)[:, None])
        self.project = HardProjection(declared_constraints(meta), len(meta["classes"]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        records, windows = x.shape[0], x.shape[1]
        z = ((x - self.mean) / self.std).flatten(0, 1)
        out = self.model(z)
        p = torch.sigmoid(out["logits"]).reshape(records, windows, -1).amax(dim=1)
        p, recon = self.project(p, out["reconstruction"])
        return p, (recon * self.std + self.mean).reshape(x.shape)


def metadata(ck: dict) -> dict:
    """The 12-lead model's metadata: what `ecgmtl predict` needs to window, standardise and threshold."""
    cfg, meta = ck["config"], ck["meta"]
    return {
        "inputs": {"x": ["records", "windows", meta["in_leads"], meta["window"]]},
        "input_units": "mV",
        "leads": meta["leads"],
        "fs": meta["fs"],
        "window": meta["window"],
        "stride": meta["stride"],
        "aggregation": "maximum over windows of the sigmoid outputs, then the hard constraints",
        "lead_mean": meta["lead_mean"],
        "lead_std": meta["lead_std"],
        "hidden_lead_value": (
            "its linear regression on the visible leads (lead_corr: the standardised leads' correlation)"
            if meta.get("mask_fill") == "regression"
            else "the lead's training mean (lead_mean), as in lead-masking training"
        ),
        "mask_fill": meta.get("mask_fill", "mean"),
        "lead_corr": meta.get("lead_corr"),
        "hidden_method": meta.get("hidden_method", {}),
        "probabilities": "sigmoid (multi-label)",
        "thresholds": dict(zip(meta["classes"], meta["val"]["thresholds"])),
        "thresholds_from": "F1-maximising per class on the validation fold (strat_fold 9)",
        "data": {k: cfg["data"][k] for k in ("rate", "crop_s", "stride_s", "crops_per_epoch", "mask_prob", "mask_max")},
        "folds": meta["folds"],
        "train_records": len(meta["train_records"]),
        "val_records": len(meta["val_records"]),
        "val": {k: v for k, v in meta["val"].items() if k != "thresholds"},
    }


def example_inputs(meta: dict) -> tuple[dict[str, torch.Tensor], tuple[dict, ...]]:
    """6 random records of 7 windows; records and windows are dynamic. `meta`: a checkpoint's or an exported
    model's."""
    g = torch.Generator().manual_seed(0)
    leads, window = meta["inputs"]["x"][2:] if "inputs" in meta else (meta["in_leads"], meta["window"])
    x = torch.randn(6, 7, leads, window, generator=g) * 0.3
    return {"x": x}, ({0: torch.export.Dim("records", min=1), 1: torch.export.Dim("windows", min=1)},)


class _TorchRunner:
    """The exported graph's function in torch, with OnnxModel's `run` (records of windows, mV)."""

    def __init__(self, model: nn.Module, meta: dict) -> None:
        self.graph = RecordDeployable(model, meta).eval()

    def run(self, x):
        out_p, out_r = [], []
        with torch.no_grad():
            for s in range(0, len(x), 64):
                p, r = self.graph(torch.from_numpy(x[s : s + 64].astype("float32")))
                out_p.append(p.numpy())
                out_r.append(r.numpy())
        import numpy as np

        return np.concatenate(out_p), np.concatenate(out_r)


def choose_on_validation(ck: dict, model: nn.Module, cfg) -> None:
    """ck["meta"]["hidden_method"]: per lead "model" or "regression", the lower hidden-lead PRD on fold 9;
    the fold's rows go with it ("hidden_val")."""
    from ecgmtl.config import config_from_dict
    from ecgmtl.signal.windows import sliding_windows
    from ecgmtl.tasks.twelve_lead.evaluate import choose_hidden_methods, hidden_lead_prd
    from ecgmtl.tasks.twelve_lead.training import load_ptbxl_split

    c = config_from_dict(ck["config"]) if isinstance(ck["config"], dict) else cfg
    meta = ck["meta"]
    val, train = load_ptbxl_split(c, "val"), load_ptbxl_split(c, "train")
    windows = sliding_windows(val.signals, int(meta["window"]), int(meta["stride"]))
    rows = hidden_lead_prd(_TorchRunner(model, meta), windows, train.signals, {**meta, "hidden_method": {}})
    meta["hidden_method"] = choose_hidden_methods(rows)
    meta["hidden_val"] = {k: {"model": v["model"], "linear": v["linear"]} for k, v in rows.items()}
