"""Output constraints. Hard: a projection into the allowed set, part of the model (and its ONNX graph).
Violation rates are a metric (metrics.violation_rate); soft penalties come with the constraint config."""

from __future__ import annotations

import torch
from torch import nn


class Clamp(nn.Module):
    """Hard bounds by projection: y -> min(max(y, lower), upper). Exported as an ONNX Clip node."""

    def __init__(self, lower: float, upper: float) -> None:
        super().__init__()
        if not lower < upper:
            raise ValueError(f"lower bound {lower} must be below upper bound {upper}")
        self.lower, self.upper = float(lower), float(upper)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return torch.clamp(y, self.lower, self.upper)

