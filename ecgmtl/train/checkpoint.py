"""Self-describing checkpoints: architecture, preprocessing, class names, normalisation and bounds travel
with the weights, so loading needs nothing else. Loaded with weights_only=True (no code executes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ecgmtl.errors import ModelError, first_line
from ecgmtl.io.atomic import atomic_path

FORMAT = "ecgmtl-checkpoint/1"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Atomic write: a temporary file in the same folder, flushed and synced, then renamed over `path`."""
    import torch

    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint file, or a run folder (its best.pt)."""
    import torch

    p = Path(path)
    if p.is_dir():
        p = p / "best.pt"
    if not p.is_file():
        raise ModelError(f"no checkpoint at {p}; train one with 'ecgmtl train --out RUN'")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(f"checkpoint {p} is unreadable ({first_line(e, 120)})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ModelError(f"{p} is not an ecgmtl checkpoint ({FORMAT})")
    return ck


def model_from_checkpoint(ck: dict[str, Any]):
    """Rebuild the torch model, in eval mode, from a loaded checkpoint."""
    from ecgmtl.config import config_from_dict
    from ecgmtl.models import build_model

    cfg = config_from_dict(ck["config"])
    meta = ck["meta"]
    model = build_model(cfg.model, meta["in_leads"], len(meta["rr_features"]), len(meta["classes"]))
    model.load_state_dict(ck["model_state"])
    return model.eval(), cfg
