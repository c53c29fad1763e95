"""GradNorm (Chen et al. 2018): learned weights w_i, trained so that each task's gradient norm on the last
shared layer W, G_i = |grad_W w_i L_i|, tracks mean(G) * r_i^alpha, where r_i is the task's loss ratio
L_i(t) / L_i(0) relative to the mean ratio (a slower task gets a larger target). The model is trained on
sum w_i L_i with w held fixed; w gets only the gradient of sum |G_i - target_i|, and is renormalised to sum
to the number of tasks after each step."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting
from ecgmtl.train.distributed import all_sum


@WEIGHTINGS.register("gradnorm")
class GradNorm(Weighting):
    gradient_based = True

    def __init__(self, tasks: tuple[str, ...], alpha: float = 1.5, **kwargs: object) -> None:
        super().__init__(tasks)
        self.alpha = float(alpha)
        self.w = nn.Parameter(torch.ones(len(tasks)))
        self.register_buffer("initial", torch.zeros(len(tasks)))  # L_i(0), set at the first joint step

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.w[i].detach() * losses[t] for i, t in enumerate(self.tasks) if t in losses)

    def backward(
        self, losses: dict[str, torch.Tensor], shared: list[nn.Parameter], last_shared: nn.Parameter | None = None
    ) -> None:
        if len(losses) < len(self.tasks) or last_shared is None:
            return self.combine(losses).backward()
        L = torch.stack([losses[t] for t in self.tasks])
        if not bool((self.initial > 0).all()):
            self.initial.copy_(L.detach())
        norms = torch.stack(
            [  # the global batch's gradient under DDP
                all_sum(torch.autograd.grad(L[i], last_shared, retain_graph=True)[0]).norm()
                for i in range(len(self.tasks))
            ]
        )
        G = self.w * norms  # |grad_W (w_i L_i)| = w_i |grad_W L_i|, differentiable in w
        ratio = L.detach() / self.initial
        target = (G.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
        self.w.grad = torch.autograd.grad((G - target).abs().sum(), self.w, retain_graph=True)[0]
        self.combine(losses).backward()

    @torch.no_grad()
    def after_step(self) -> None:
        self.w.clamp_(min=1e-3)
        self.w.mul_(len(self.tasks) / self.w.sum())

    def weights(self) -> dict[str, float]:
        return {t: float(self.w[i].detach()) for i, t in enumerate(self.tasks)}
