"""DB-MTL (Lin et al. 2023, dual balancing), for losses of very different scale (here: cross-entropy and a
reconstruction MSE a hundred times smaller). Loss scale: each task trains on log(L_i). Gradient magnitude:
an exponential moving average m_i of each task's gradient on the shared parameters is rescaled to the largest
norm, sum_i (max_j |m_j| / |m_i|) m_i. The moving-average rate beta / step^sigma follows LibMTL."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting, backward_with_shared_grad, task_gradients


@WEIGHTINGS.register("dbmtl")
class DBMTL(Weighting):
    gradient_based = True

    def __init__(self, tasks: tuple[str, ...], beta: float = 0.9, beta_sigma: float = 0.5, **kwargs: object) -> None:
        super().__init__(tasks)
        self.beta, self.sigma = float(beta), float(beta_sigma)
        self.step = 0
        self.buffer: torch.Tensor | None = None
        self._alpha = {t: 1.0 for t in tasks}

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(torch.log(losses[t] + 1e-8) for t in losses)

    def backward(
        self, losses: dict[str, torch.Tensor], shared: list[nn.Parameter], last_shared: nn.Parameter | None = None
    ) -> None:
        if len(losses) < len(self.tasks):
            return self.combine(losses).backward()
        logs = {t: torch.log(losses[t] + 1e-8) for t in self.tasks}
        grads = torch.stack(list(task_gradients(logs, shared).values()))
        self.step += 1
        if self.buffer is None or self.buffer.shape != grads.shape:
            self.buffer = grads.detach().clone()
        else:
            self.buffer = grads + (self.beta / self.step**self.sigma) * (self.buffer - grads)
        norms = self.buffer.norm(dim=1)
        alpha = norms.max() / (norms + 1e-8)
        self._alpha = {t: float(alpha[i]) for i, t in enumerate(self.tasks)}
        backward_with_shared_grad(sum(logs.values()), shared, (alpha[:, None] * self.buffer).sum(0))

    def weights(self) -> dict[str, float]:
        return dict(self._alpha)

    def get_extra_state(self) -> dict:
        return {"step": self.step, "buffer": self.buffer, "alpha": self._alpha}

    def set_extra_state(self, state: dict) -> None:
        self.step, self.buffer, self._alpha = state["step"], state["buffer"], state["alpha"]
