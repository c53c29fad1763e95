"""The exported graph shared by the window classifiers (beats, rhythm): signal windows and raw features in,
softmax probabilities (temperature-scaled) and the reconstruction out, with the hard constraints inside the
graph; and the example inputs it is traced with."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.mtl.constraints import HardProjection, declared_constraints


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
