"""The interface every loss-weighting method implements."""

from __future__ import annotations

import torch
from torch import nn

from ..registry import Registry


class Weighting(nn.Module):
    """Combines per-task losses into one scalar to backpropagate.

    Subclasses implement `combine`. Learned weights are parameters of this module, so the trainer
    optimises them with the model and they travel in the checkpoint.
    """

    def __init__(self, tasks: tuple[str, ...], **kwargs: object) -> None:
        super().__init__()
        self.tasks = tasks

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def weights(self) -> dict[str, float]:
        """The current effective weight of each task, for logging."""
        raise NotImplementedError


WEIGHTINGS: Registry[type[Weighting]] = Registry("weighting")
