"""Device, precision, memory and seed, resolved once at the edge of a training run."""

from __future__ import annotations

import os

import numpy as np
import torch

from ecgmtl.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when torch sees a GPU, else cpu; 'cuda' without a GPU is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but torch sees no usable GPU; use --device cpu or auto")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast for the forward pass: asked for, or 'auto' on a CUDA device that supports it."""
    if precision == "bf16":
        return True
    return precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()


def fits_on_device(device: torch.device, nbytes: int) -> bool:
    """Whether arrays of `nbytes` take at most half the device's free memory (always true on the CPU)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2


def memory_budget(limit_mb: int | None) -> int:
    """Bytes the training windows may take in memory: data.memory_mb, else half the available memory."""
    if limit_mb is not None:
        return limit_mb * 2**20
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, ValueError, OSError):  # not Linux
        return 4 * 2**30


def host(t: torch.Tensor, pin: bool) -> torch.Tensor:
    return t.pin_memory() if pin else t


def seed_everything(seed: int) -> np.random.Generator:
    import random

    random.seed(seed)
    np.random.seed(seed)  # the global generator, for library code that draws from it; ours uses the one below
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
