"""Output constraints declared in the config (`constraints:` list).

Hard: a projection of the output into the allowed set, part of the exported ONNX graph (and of validation):
reconstruction -> clamp to [lower, upper]; probabilities -> the Euclidean projection onto
{p : sum p = 1, lower <= p <= upper}, so they stay a distribution. Soft: a training-time penalty
coef * mean(relu(lower - y)^2 + relu(y - upper)^2). Every declared constraint's violation rate is reported
at evaluation (metrics.constraint_report).

Multi-label (sigmoid) models take a logical constraint instead of bounds: `exclusive: NORM` says that a
record cannot be NORM and carry a diagnosis with high probability, p(NORM) + max p(other) <= upper (default
1). Hard: the Euclidean projection onto that set (ExclusionProjection); soft: coef * mean(relu(p(NORM) +
max p(other) - upper)^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from ecgmtl.errors import ConfigError

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
    # Multi-label models: p(exclusive) + max p(c in classes) <= upper (default 1); classes default to the others.
    exclusive: Optional[str] = None


EXCLUSION_TOLERANCE = 1e-6  # float32 rounding of a + (upper - a): a projected output is within this of the bound


def check_constraints(
    constraints: list[ConstraintConfig] | tuple, classes: tuple[str, ...] | list[str], multilabel: bool = False
) -> None:
    """Names, bound order and feasibility, each failure one ConfigError. multilabel: the model's probabilities
    are independent sigmoids (PTB-XL), which take the exclusive constraint and no box bounds."""
    for i, c in enumerate(constraints):
        where = f"constraints[{i}]"
        if c.exclusive is not None:
            _check_exclusive(c, where, classes, multilabel)
            continue
        if multilabel and c.output == "probabilities":
            raise ConfigError(
                f"{where}: bounds on probabilities apply to softmax (beat) models; a multi-label "
                "model takes 'exclusive: NORM' (p(NORM) + max p(other) <= 1)"
            )
        if c.output not in OUTPUTS:
            raise ConfigError(f"{where}.output {c.output!r} is not an output; choose one of: {', '.join(OUTPUTS)}")
        if c.kind not in KINDS:
            raise ConfigError(f"{where}.kind {c.kind!r} is unknown; choose hard or soft")
        if c.lower is not None and c.upper is not None and not c.lower < c.upper:
            raise ConfigError(f"{where}: lower bound {c.lower} must be below upper bound {c.upper}")
        if c.kind == "soft" and not c.coef > 0:
            raise ConfigError(f"{where}.coef must be > 0 for a soft constraint ({c.coef})")
        if c.lower is None and c.upper is None and not (c.output == "reconstruction" and c.kind == "hard"):
            raise ConfigError(
                f"{where} needs a lower or an upper bound (only a hard reconstruction constraint "
                "defaults to the range seen in training)"
            )
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
    if sum(c.exclusive is not None and c.kind == "hard" for c in constraints) > 1:
        raise ConfigError("more than one hard exclusive constraint; the graph projects onto one")
    if multilabel:
        return
    lo, hi = probability_box(resolve(constraints, classes, (0.0, 1.0)), len(classes))
    if sum(lo) > 1.0 + 1e-9 or sum(hi) < 1.0 - 1e-9 or any(a > b for a, b in zip(lo, hi)):
        raise ConfigError(
            "the hard probability constraints leave no distribution that satisfies them all "
            f"(lower bounds sum to {sum(lo):g}, upper bounds to {sum(hi):g})"
        )


def _check_exclusive(c: ConstraintConfig, where: str, classes, multilabel: bool) -> None:
    if not multilabel:
        raise ConfigError(
            f"{where}.exclusive: softmax probabilities sum to 1, so p({c.exclusive}) + max p(other) "
            "<= 1 always holds; the exclusive constraint is for multi-label models"
        )
    if c.output != "probabilities":
        raise ConfigError(f"{where}.exclusive applies to output: probabilities")
    if c.kind not in KINDS:
        raise ConfigError(f"{where}.kind {c.kind!r} is unknown; choose hard or soft")
    unknown = [k for k in [c.exclusive, *c.classes] if k not in classes]
    if unknown:
        raise ConfigError(f"{where}: {unknown} are not classes of this model ({', '.join(classes)})")
    if c.exclusive in c.classes:
        raise ConfigError(f"{where}: the exclusive class {c.exclusive} cannot also be among its 'classes'")
    if c.lower is not None:
        raise ConfigError(f"{where}: an exclusive constraint has an upper bound only (p + max p_other <= upper)")
    if c.upper is not None and not 0.0 < c.upper <= 2.0:
        raise ConfigError(f"{where}.upper must lie in (0, 2] ({c.upper})")
    if c.kind == "soft" and not c.coef > 0:
        raise ConfigError(f"{where}.coef must be > 0 for a soft constraint ({c.coef})")


def resolve(constraints: list[ConstraintConfig] | tuple, classes, recon_bounds: tuple[float, float]) -> list[dict]:
    """Concrete bounds as plain data, saved in checkpoints and ONNX metadata. Probabilities: the class names
    and their column `index`; reconstruction without bounds: the range seen in training."""
    out = []
    for c in constraints:
        item = {
            "output": c.output,
            "kind": c.kind,
            "coef": c.coef if c.kind == "soft" else None,
            "lower": c.lower,
            "upper": c.upper,
            "classes": [],
            "index": [],
        }
        if c.output == "reconstruction" and c.lower is None and c.upper is None:
            item["lower"], item["upper"] = float(recon_bounds[0]), float(recon_bounds[1])
        if c.output == "probabilities":
            item["classes"] = list(c.classes or [k for k in classes if k != c.exclusive])
            item["index"] = [list(classes).index(k) for k in item["classes"]]
        if c.exclusive is not None:
            item.update(
                exclusive=c.exclusive,
                exclusive_index=list(classes).index(c.exclusive),
                upper=1.0 if c.upper is None else float(c.upper),
            )
        out.append(item)
    return out


def probability_box(resolved: list[dict], n_classes: int) -> tuple[list[float], list[float]]:
    """Per-class lower and upper bounds that all hard probability constraints leave (their intersection)."""
    lo, hi = [0.0] * n_classes, [1.0] * n_classes
    for c in resolved:
        if c["kind"] == "hard" and c["output"] == "probabilities" and c.get("exclusive") is None:
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


class ExclusionProjection(nn.Module):
    """Euclidean projection of each row p onto {p : p[a] + p[j] <= upper for every j in `others`}.

    For a fixed value t of p[a], the nearest point has p[j] = min(p[j], upper - t); t solves
    t - p[a] + sum_j relu(p[j] + t - upper) = 0 (the derivative of the squared distance), found by bisection
    on [0, p[a]] with a fixed number of halvings, so the ONNX graph is a chain of elementwise ops. Every t
    gives a point of the set, so the constraint holds whatever the bisection's precision (to float rounding,
    EXCLUSION_TOLERANCE); rows already inside are returned unchanged."""

    def __init__(self, exclusive: int, others: list[int], upper: float = 1.0, iterations: int = 30) -> None:
        super().__init__()
        self.exclusive, self.others, self.upper, self.iterations = exclusive, list(others), float(upper), iterations

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        a = p[:, self.exclusive : self.exclusive + 1]
        o = p[:, self.others]
        lo, hi = torch.zeros_like(a), a
        for _ in range(self.iterations):
            t = 0.5 * (lo + hi)
            grad = t - a + torch.relu(o + t - self.upper).sum(dim=-1, keepdim=True)
            lo = torch.where(grad < 0, t, lo)
            hi = torch.where(grad < 0, hi, t)
        t = torch.where(a + o.amax(dim=-1, keepdim=True) <= self.upper, a, hi)  # inside: unchanged
        cols = list(p.unbind(dim=-1))
        cols[self.exclusive] = t[:, 0]
        capped = torch.minimum(o, self.upper - t)
        for k, j in enumerate(self.others):
            cols[j] = capped[:, k]
        return torch.stack(cols, dim=-1)


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
            raise ConfigError(
                f"the hard reconstruction constraints leave nothing allowed ([{lo:g}, {hi:g}] after "
                "the training range is filled in); widen them"
            )
        self.clamp = Clamp(lo, hi) if rec else None
        lo, hi = probability_box(resolved, n_classes)
        bounded = any(v > 0 for v in lo) or any(v < 1 for v in hi)
        self.simplex = SimplexBoxProjection(lo, hi) if bounded else None
        ex = [c for c in hard if c.get("exclusive") is not None]
        self.exclusion = ExclusionProjection(ex[0]["exclusive_index"], ex[0]["index"], ex[0]["upper"]) if ex else None

    def forward(self, probs: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.simplex is not None:
            probs = self.simplex(probs)
        if self.exclusion is not None:
            probs = self.exclusion(probs)
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
        if c.get("exclusive") is not None:
            excess = y[:, c["exclusive_index"]] + y[:, c["index"]].amax(dim=-1) - c["upper"]
            term = c["coef"] * torch.relu(excess).pow(2).mean()
            total = term if total is None else total + term
            continue
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


def declared_constraints(meta: dict) -> list[dict]:
    """The run's resolved constraints; checkpoints from before constraints were configurable had one, the
    reconstruction clamped to the training range."""
    if "constraints" in meta:
        return meta["constraints"]
    return resolve([ConstraintConfig()], meta["classes"], tuple(meta["recon_bounds"]))
