"""Dynamic Weight Averaging (Liu, Johns & Davison 2019): w_i = K exp(r_i / T) / sum_j exp(r_j / T),
r_i = L_i(t-1) / L_i(t-2) from the last two epochs' mean losses; w_i = 1 until two epochs are known."""

from __future__ import annotations

import math

import torch

from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting


@WEIGHTINGS.register("dwa")
class DWA(Weighting):
    def __init__(self, tasks: tuple[str, ...], temperature: float = 2.0, **kwargs: object) -> None:
        super().__init__(tasks)
        self.temperature = float(temperature)
        self.history: list[dict[str, float]] = []
        self._w = {t: 1.0 for t in tasks}

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        if set(mean_losses) != set(self.tasks):  # an epoch without every task (pretraining) says nothing
            return
        self.history = (self.history + [dict(mean_losses)])[-2:]
        if len(self.history) == 2:
            r = {t: self.history[1][t] / max(self.history[0][t], 1e-12) for t in self.tasks}
            z = sum(math.exp(r[t] / self.temperature) for t in self.tasks)
            self._w = {t: len(self.tasks) * math.exp(r[t] / self.temperature) / z for t in self.tasks}

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self._w[t] * losses[t] for t in losses)

    def weights(self) -> dict[str, float]:
        return dict(self._w)

    def get_extra_state(self) -> dict:
        return {"history": self.history, "w": self._w}

    def set_extra_state(self, state: dict) -> None:
        self.history, self._w = state["history"], state["w"]
