"""Several trained runs of one recipe (seeds) exported as one ONNX graph that averages them.

Each member keeps what its own run fitted (input statistics, softmax temperature, hard constraints); the
graph returns the mean of the members' outputs. A mean of probability vectors is still >= 0 and sums to 1,
and a mean of reconstructions projected into a box stays in the box, so the declared constraints hold for the
ensemble without a second projection. A user loads it like any other model file."""

from __future__ import annotations

import torch
from torch import nn

from ecgmtl.errors import ModelError

# What must agree between members for one graph to stand for all of them.
SAME = ("task", "classes", "inputs", "preprocess", "constraints", "thresholds", "gate")


class Ensemble(nn.Module):
    """The mean of the members' outputs, output by output (each member returns a tuple of tensors); members
    that take one input (a signal). The exporter needs a fixed signature, hence one class per input count."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        form = getattr(members[0], "graph_form", None)
        if form:
            self.graph_form = f"{form}, mean of {len(members)} members"

    def combine(self, outs: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.stack(o).mean(dim=0) for o in zip(*outs))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.combine([m(x) for m in self.members])


class Ensemble2(Ensemble):
    """Members that take two inputs (windows and features: the beat and rhythm models)."""

    def forward(self, x: torch.Tensor, rr: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.combine([m(x, rr) for m in self.members])


def ensemble(members: list[nn.Module], n_inputs: int) -> nn.Module:
    if n_inputs not in (1, 2):
        raise ModelError(f"an ensemble of models with {n_inputs} inputs is not supported")
    return (Ensemble if n_inputs == 1 else Ensemble2)(members).eval()


def check_members(infos: list[dict], runs: list[str]) -> None:
    """ModelError unless every member's metadata agrees with the first's on SAME."""
    for info, run in zip(infos[1:], runs[1:]):
        for key in SAME:
            if info.get(key) != infos[0].get(key):
                raise ModelError(f"{run} differs from {runs[0]} in {key}: the runs cannot be averaged in one model")


def describe(cks: list[dict], runs: list[str]) -> dict:
    """The metadata's `ensemble` entry: each member's run, seed, checkpoint epoch and temperature."""
    return {
        "members": len(cks),
        "combine": "mean of the members' probabilities and reconstructions",
        "runs": [
            {
                "run": str(run),
                "seed": ck["config"]["train"]["seed"],
                "epoch": ck["meta"]["epoch"],
                "temperature": ck["meta"].get("calibration", {}).get("temperature", 1.0),
            }
            for ck, run in zip(cks, runs)
        ],
    }
