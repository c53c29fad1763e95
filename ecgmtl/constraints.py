"""Output constraints declared in the config (`constraints:` list).

Hard: a projection of the output into the allowed set, part of the exported ONNX graph (and of validation):
reconstruction -> clamp to [lower, upper]; probabilities -> the Euclidean projection onto
{p : sum p = 1, lower <= p <= upper}, so they stay a distribution. Soft: a training-time penalty
coef * mean(relu(lower - y)^2 + relu(y - upper)^2). Every declared constraint's violation rate is reported
at evaluation (metrics.constraint_report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from .errors import ConfigError

OUTPUTS = ("reconstruction", "probabilities")
KINDS = ("hard", "soft")


@dataclass(frozen=True)
class ConstraintConfig:
    """One bound on one output. Reconstruction with neither bound given: the amplitude range seen in training.
    Probabilities: `classes` names the classes it applies to (empty: all); missing bounds are 0 and 1."""

    output: str = "reconstruction"
    kind: str = "hard"
    lower: Optional[float] = None
    upper: Optional[float] = None
    classes: list[str] = field(default_factory=list)
    coef: float = 1.0  # soft: the penalty's coefficient


def check_constraints(constraints: list[ConstraintConfig] | tuple, classes: tuple[str, ...] | list[str]) -> None:
    """Names, bound order and feasibility, each failure one ConfigError."""
    for i, c in enumerate(constraints):
        where = f"constraints[{i}]"
        if c.output not in OUTPUTS:
            raise ConfigError(f"{where}.output {c.output!r} is not an output; choose one of: {', '.join(OUTPUTS)}")
        if c.kind not in KINDS:
            raise ConfigError(f"{where}.kind {c.kind!r} is unknown; choose hard or soft")
        if c.lower is not None and c.upper is not None and not c.lower < c.upper:
            raise ConfigError(f"{where}: lower bound {c.lower} must be below upper bound {c.upper}")
        if c.kind == "soft" and not c.coef > 0:
            raise ConfigError(f"{where}.coef must be > 0 for a soft constraint ({c.coef})")
        if c.lower is None and c.upper is None and not (c.output == "reconstruction" and c.kind == "hard"):
            raise ConfigError(f"{where} needs a lower or an upper bound (only a hard reconstruction constraint "
                              "defaults to the range seen in training)")  # fmt: skip
        if c.output == "reconstruction":
            if c.classes:
                raise ConfigError(f"{where}: 'classes' applies to probabilities, not to the reconstruction")
        else:
            unknown = [k for k in c.classes if k not in classes]
            if unknown:
                raise ConfigError(f"{where}.classes {unknown} are not classes of this model ({', '.join(classes)})")
            for b in (c.lower, c.upper):
                if b is not None and not 0.0 <= b <= 1.0:
                    raise ConfigError(f"{where}: probability bounds must lie in [0, 1] ({b})")
    lo, hi = probability_box(resolve(constraints, classes, (0.0, 1.0)), len(classes))
    if sum(lo) > 1.0 + 1e-9 or sum(hi) < 1.0 - 1e-9 or any(a > b for a, b in zip(lo, hi)):
        raise ConfigError("the hard probability constraints leave no distribution that satisfies them all "
                          f"(lower bounds sum to {sum(lo):g}, upper bounds to {sum(hi):g})")  # fmt: skip


def resolve(constraints: list[ConstraintConfig] | tuple, classes, recon_bounds: tuple[float, float]) -> list[dict]:
    """Concrete bounds as plain data, saved in checkpoints and ONNX metadata. Probabilities: the class names
    and their column `index`; reconstruction without bounds: the range seen in training."""
    out = []
    for c in constraints:
        item = {"output": c.output, "kind": c.kind, "coef": c.coef if c.kind == "soft" else None,
                "lower": c.lower, "upper": c.upper, "classes": [], "index": []}  # fmt: skip
        if c.output == "reconstruction" and c.lower is None and c.upper is None:
            item["lower"], item["upper"] = float(recon_bounds[0]), float(recon_bounds[1])
        if c.output == "probabilities":
            item["classes"] = list(c.classes or classes)
            item["index"] = [list(classes).index(k) for k in item["classes"]]
        out.append(item)
    return out


def probability_box(resolved: list[dict], n_classes: int) -> tuple[list[float], list[float]]:
    """Per-class lower and upper bounds that all hard probability constraints leave (their intersection)."""
    lo, hi = [0.0] * n_classes, [1.0] * n_classes
    for c in resolved:
        if c["kind"] == "hard" and c["output"] == "probabilities":
            for i in c["index"]:
                lo[i] = lo[i] if c["lower"] is None else max(lo[i], c["lower"])
                hi[i] = hi[i] if c["upper"] is None else min(hi[i], c["upper"])
    return lo, hi


class Clamp(nn.Module):
    """Hard bounds by projection: y -> min(max(y, lower), upper). Exported as an ONNX Clip node."""

    def __init__(self, lower: float | None, upper: float | None) -> None:
        super().__init__()
        if lower is not None and upper is not None and not lower < upper:
            raise ValueError(f"lower bound {lower} must be below upper bound {upper}")
        self.lower = None if lower is None else float(lower)
        self.upper = None if upper is None else float(upper)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return torch.clamp(y, self.lower, self.upper)


class SimplexBoxProjection(nn.Module):
    """Euclidean projection of each row q onto {p : sum p = 1, lower <= p <= upper}:
    p = clip(q - tau, lower, upper), with tau found by bisection (a fixed number of halvings, so the ONNX graph
    is a plain chain of elementwise ops). The bounds hold exactly; the sum is 1 to float precision."""

    def __init__(self, lower: list[float], upper: list[float], iterations: int = 40) -> None:
        super().__init__()
        self.register_buffer("lower", torch.tensor(lower, dtype=torch.float32))
        self.register_buffer("upper", torch.tensor(upper, dtype=torch.float32))
        self.iterations = iterations

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        lo_tau = (q - self.upper).amin(dim=-1, keepdim=True)  # sum(clip) = sum(upper) >= 1 here
        hi_tau = (q - self.lower).amax(dim=-1, keepdim=True)  # sum(clip) = sum(lower) <= 1 here
        for _ in range(self.iterations):
            mid = 0.5 * (lo_tau + hi_tau)
            too_big = torch.clamp(q - mid, self.lower, self.upper).sum(dim=-1, keepdim=True) > 1.0
            lo_tau = torch.where(too_big, mid, lo_tau)
            hi_tau = torch.where(too_big, hi_tau, mid)
        return torch.clamp(q - 0.5 * (lo_tau + hi_tau), self.lower, self.upper)


class HardProjection(nn.Module):
    """All hard constraints of a model, applied to (probabilities, reconstruction)."""

    def __init__(self, resolved: list[dict], n_classes: int) -> None:
        super().__init__()
        hard = [c for c in resolved if c["kind"] == "hard"]
        rec = [c for c in hard if c["output"] == "reconstruction"]
        los = [c["lower"] for c in rec if c["lower"] is not None]
        his = [c["upper"] for c in rec if c["upper"] is not None]
        lo, hi = (max(los) if los else None), (min(his) if his else None)  # intersect: the tightest bounds
        if lo is not None and hi is not None and not lo < hi:
            raise ConfigError(f"the hard reconstruction constraints leave nothing allowed ([{lo:g}, {hi:g}] after "
                              "the training range is filled in); widen them")  # fmt: skip
        self.clamp = Clamp(lo, hi) if rec else None
        lo, hi = probability_box(resolved, n_classes)
        bounded = any(v > 0 for v in lo) or any(v < 1 for v in hi)
        self.simplex = SimplexBoxProjection(lo, hi) if bounded else None

    def forward(self, probs: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.simplex is not None:
            probs = self.simplex(probs)
        if self.clamp is not None:
            recon = self.clamp(recon)
        return probs, recon


def soft_penalty(resolved: list[dict], outputs: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """Sum over soft constraints of coef * mean(relu(lower - y)^2 + relu(y - upper)^2); outputs holds
    'probabilities' and/or 'reconstruction' (a constraint on an absent output is skipped)."""
    total = None
    for c in resolved:
        if c["kind"] != "soft" or c["output"] not in outputs:
            continue
        y = outputs[c["output"]]
        if c["output"] == "probabilities":
            y = y[:, c["index"]]
        v = y.new_zeros(())
        if c["lower"] is not None:
            v = v + torch.relu(c["lower"] - y).pow(2)
        if c["upper"] is not None:
            v = v + torch.relu(y - c["upper"]).pow(2)
        term = c["coef"] * v.mean()
        total = term if total is None else total + term
    return total
