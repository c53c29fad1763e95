"""Fixed weights: L = sum_i lambda_i L_i."""

from __future__ import annotations

import torch

from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting


@WEIGHTINGS.register("fixed")
class FixedWeighting(Weighting):
    def __init__(self, tasks: tuple[str, ...], weights: dict[str, float] | None = None, **kwargs: object) -> None:
        super().__init__(tasks)
        self.lambdas = {t: float((weights or {}).get(t, 1.0)) for t in tasks}

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.lambdas[t] * losses[t] for t in losses)

    def weights(self) -> dict[str, float]:
        return dict(self.lambdas)
