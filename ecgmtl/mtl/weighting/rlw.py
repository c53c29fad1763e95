"""Random Loss Weighting (Lin et al. 2022): each step, weights drawn as softmax of standard normal draws,
scaled to sum to the number of tasks. Draws come from torch's generator, so the run's seed fixes them."""

from __future__ import annotations

import torch

from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting


@WEIGHTINGS.register("rlw")
class RLW(Weighting):
    def __init__(self, tasks: tuple[str, ...], **kwargs: object) -> None:
        super().__init__(tasks)
        self._last = torch.ones(len(tasks))

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        w = len(self.tasks) * torch.softmax(torch.randn(len(self.tasks)), dim=0)
        self._last = w
        return sum(w[i].to(losses[t].device) * losses[t] for i, t in enumerate(self.tasks) if t in losses)

    def weights(self) -> dict[str, float]:
        return {t: float(self._last[i]) for i, t in enumerate(self.tasks)}
