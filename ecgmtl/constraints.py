"""Output constraints. Hard: a projection into the allowed set, part of the model (and its ONNX graph).
Soft: a training penalty c * mean(relu(violation)^2)."""

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


def bound_penalty(y: torch.Tensor, lower: float | None, upper: float | None, coef: float) -> torch.Tensor:
    """Soft bounds: coef * mean(relu(lower - y)^2 + relu(y - upper)^2)."""
    v = torch.zeros_like(y)
    if lower is not None:
        v = v + torch.relu(lower - y) ** 2
    if upper is not None:
        v = v + torch.relu(y - upper) ** 2
    return coef * v.mean()


def violation_rate(y, lower: float | None, upper: float | None) -> float:
    """Fraction of values outside [lower, upper] (numpy or torch input)."""
    import numpy as np

    y = np.asarray(y)
    bad = np.zeros(y.shape, dtype=bool)
    if lower is not None:
        bad |= y < lower
    if upper is not None:
        bad |= y > upper
    return float(bad.mean()) if bad.size else 0.0
