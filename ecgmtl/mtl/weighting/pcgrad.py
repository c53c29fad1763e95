"""PCGrad (Yu et al. 2020): where two tasks' gradients on the shared parameters conflict (negative dot
product), each is projected onto the normal plane of the other before they are summed."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting, backward_with_shared_grad, task_gradients


def project_conflicts(grads: list[torch.Tensor], order: list[int] | None = None) -> list[torch.Tensor]:
    """g_i <- g_i - (g_i . g_j) / |g_j|^2 g_j for each other task j (in `order`) whose gradient conflicts."""
    out = []
    for i, g in enumerate(grads):
        g = g.clone()
        for j in order if order is not None else range(len(grads)):
            if j == i:
                continue
            dot = torch.dot(g, grads[j])
            if dot < 0:
                g = g - dot / grads[j].pow(2).sum().clamp_min(1e-20) * grads[j]
        out.append(g)
    return out


@WEIGHTINGS.register("pcgrad")
class PCGrad(Weighting):
    gradient_based = True

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(losses.values())

    def backward(
        self, losses: dict[str, torch.Tensor], shared: list[nn.Parameter], last_shared: nn.Parameter | None = None
    ) -> None:
        if len(losses) < 2:
            return self.combine(losses).backward()
        grads = task_gradients(losses, shared)
        order = torch.randperm(len(grads)).tolist()  # the paper shuffles the order each step
        projected = project_conflicts(list(grads.values()), order)
        backward_with_shared_grad(self.combine(losses), shared, torch.stack(projected).sum(0))

    def weights(self) -> dict[str, float]:
        return {t: 1.0 for t in self.tasks}
