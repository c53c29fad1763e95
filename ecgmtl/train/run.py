"""A training run from start to end: the checks first, then the loop (one process, or torchrun's ranks)."""

from __future__ import annotations

from pathlib import Path

from ecgmtl.config import Config
from ecgmtl.train.checkpoint import load_checkpoint
from ecgmtl.train.device import resolve_device
from ecgmtl.train.distributed import barrier, from_environment, shutdown
from ecgmtl.train.loop import Trainer


def train(cfg: Config, out: Path, progress: bool = True, resume: bool = False) -> dict:
    """Check everything that can be checked first, then train (or resume) into the run folder `out`."""
    from ecgmtl.train.preflight import check_config, check_output, check_resume

    check_config(cfg)
    ctx = from_environment(
        resolve_device(cfg.train.device)
    )  # torchrun: one process per GPU (or CPU share), same command
    try:
        if ctx.main:  # the other ranks write nothing, and rank 0 may already be writing
            check_output(out, cfg, resume)
        if resume:
            check_resume(out, cfg, load_checkpoint(out / "last.pt")["config"])
        result = Trainer(cfg, out, progress, ctx).fit(resume)
        barrier()  # rank 0 has written its checkpoints before any process leaves
        return result
    finally:
        shutdown()


def resume_config(out: Path) -> Config:
    """The configuration a run was started with, from its last checkpoint."""
    from ecgmtl.config import config_from_dict

    return config_from_dict(load_checkpoint(out / "last.pt")["config"])
