"""Loss-weighting methods, one file each, found by name in WEIGHTINGS."""

from ecgmtl.mtl.weighting import dbmtl, dwa, fixed, gradnorm, pcgrad, rlw, uncertainty  # noqa: F401  (registers the methods)
from ecgmtl.mtl.weighting.base import WEIGHTINGS, Weighting

__all__ = ["WEIGHTINGS", "Weighting"]
