"""Uncertainty weighting (Kendall, Gal & Cipolla 2018): L = sum_i exp(-s_i) L_i / 2 + s_i / 2,
with s_i = log sigma_i^2 learned (stable, no sign constraint). Equals L_i / (2 sigma_i^2) + log sigma_i."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting


@WEIGHTINGS.register("uncertainty")
class UncertaintyWeighting(Weighting):
    def __init__(self, tasks: tuple[str, ...], **kwargs: object) -> None:
        super().__init__(tasks)
        self.log_var = nn.Parameter(torch.zeros(len(tasks)))

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        total = 0.0
        for i, t in enumerate(self.tasks):
            if t in losses:
                total = total + 0.5 * torch.exp(-self.log_var[i]) * losses[t] + 0.5 * self.log_var[i]
        return total

    def weights(self) -> dict[str, float]:
        w = 0.5 * torch.exp(-self.log_var.detach())
        return {t: float(w[i]) for i, t in enumerate(self.tasks)}
