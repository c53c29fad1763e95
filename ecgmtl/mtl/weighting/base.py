"""The interface every loss-weighting method implements (after LibMTL's: one small class per method)."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.registry import Registry


class Weighting(nn.Module):
    """Turns per-task losses into parameter gradients.

    Loss-based methods implement `combine` (one scalar; `backward` differentiates it). Gradient-based methods
    override `backward`, which gets the shared parameters (the encoder) and may set their `.grad` itself.
    Learned weights are parameters of this module, so the trainer optimises them with the model and they
    travel in the checkpoint. `epoch_end` receives each task's mean training loss of the epoch.
    """

    # True where the method needs each task's gradient on the shared parameters in the same step.
    gradient_based = False

    def __init__(self, tasks: tuple[str, ...], **kwargs: object) -> None:
        super().__init__()
        self.tasks = tasks

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def backward(
        self, losses: dict[str, torch.Tensor], shared: list[nn.Parameter], last_shared: nn.Parameter | None = None
    ) -> None:
        """Set .grad of every parameter. `last_shared` is the last shared layer's weight (GradNorm's W)."""
        self.combine(losses).backward()

    def after_step(self) -> None:
        """Called after each optimizer step (e.g. to renormalise learned weights)."""

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        pass

    def weights(self) -> dict[str, float]:
        """The current effective weight of each task, for logging."""
        raise NotImplementedError


def task_gradients(losses: dict[str, torch.Tensor], shared: list[nn.Parameter]) -> dict[str, torch.Tensor]:
    """Each task's gradient on the shared parameters, flattened into one vector per task."""
    from ecgmtl.train.distributed import all_sum

    out = {}
    for t, loss in losses.items():
        g = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
        flat = torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1) for gi, p in zip(g, shared)])
        out[t] = all_sum(flat)  # under DDP, the global batch's task gradient on every rank
    return out


def backward_with_shared_grad(total: torch.Tensor, shared: list[nn.Parameter], grad: torch.Tensor) -> None:
    """Backward `total` for the task-specific parameters, then set the shared ones' gradient to `grad`,
    plus whatever they held before (a penalty's gradient, taken outside the weighting).

    Under DDP `grad` is already global (see task_gradients) while the rest are this rank's parts that the
    trainer sums over ranks afterwards, so each rank keeps grad / world here."""
    from ecgmtl.train.distributed import world_size

    before = [None if p.grad is None else p.grad.clone() for p in shared]
    total.backward()
    offset, world = 0, world_size()
    for p, b in zip(shared, before):
        n = p.numel()
        g = grad[offset : offset + n].view_as(p).clone()
        if world > 1:
            g = g / world
        p.grad = g if b is None else g + b
        offset += n


WEIGHTINGS: Registry[type[Weighting]] = Registry("weighting")
