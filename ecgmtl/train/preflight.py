"""Checks made before training starts, so that a typo or a full disk costs seconds, not a run.

Each failure is one ConfigError (exit 2) or RecordError (exit 3) and nothing has been written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from ecgmtl.config import Config
from ecgmtl.errors import ConfigError, RecordError

PRECISIONS = ("auto", "fp32", "bf16", "fp64")


def check_config(cfg: Config) -> None:
    """Names that must exist in a registry, and numbers that must be in range; then the task's own checks."""
    from ecgmtl.models import ENCODERS
    from ecgmtl.models.encoders import ATTENTION_ENCODERS, ATTENTION_HEADS, NORMS
    from ecgmtl.models.multitask import SHARING
    from ecgmtl.mtl.schedules import check_schedule
    from ecgmtl.mtl.weighting import WEIGHTINGS
    from ecgmtl.tasks.registry import get_task

    ENCODERS.get(cfg.model.encoder)
    method = WEIGHTINGS.get(cfg.weighting.name)
    check_schedule(cfg.schedule)
    task = get_task(cfg.task)
    if cfg.model.sharing not in SHARING:
        raise ConfigError(f"unknown model.sharing {cfg.model.sharing!r}; choose one of: {', '.join(SHARING)}")
    if cfg.weighting.name == "dwa" and cfg.schedule.alternate == "epoch":
        raise ConfigError(
            "weighting dwa compares epochs in which both tasks trained, and schedule.alternate=epoch "
            "has none; use alternate=batch or another weighting"
        )
    if method.gradient_based:
        if cfg.model.sharing != "hard":
            raise ConfigError(
                f"weighting {cfg.weighting.name} works on the gradients of a shared encoder, and "
                f"model.sharing={cfg.model.sharing} has none; use hard sharing or a loss-based "
                "weighting (fixed, uncertainty, dwa, rlw)"
            )
        if cfg.schedule.alternate != "none" or cfg.schedule.step != "summed":
            raise ConfigError(
                f"weighting {cfg.weighting.name} needs both tasks' gradients in one step; "
                "use schedule.alternate=none and schedule.step=summed with it"
            )
    t, s = cfg.train, cfg.schedule
    if cfg.model.encoder in ATTENTION_ENCODERS and cfg.model.widths[-1] % ATTENTION_HEADS:
        raise ConfigError(
            f"model.widths[-1] ({cfg.model.widths[-1]}) is the {cfg.model.encoder}'s width and must "
            f"divide into its {ATTENTION_HEADS} attention heads"
        )
    if cfg.model.norm not in NORMS:
        raise ConfigError(f"unknown model.norm {cfg.model.norm!r}; choose one of: {', '.join(NORMS)}")
    if t.precision not in PRECISIONS:
        raise ConfigError(f"unknown train.precision {t.precision!r}; choose one of: {', '.join(PRECISIONS)}")
    for name, ok in [
        ("train.lr", t.lr > 0),
        ("train.batch_size", t.batch_size > 0),
        ("train.max_nonfinite", t.max_nonfinite > 0),
        ("train.n_fraction", 0 < t.n_fraction <= 1),
        ("train.ema_decay", 0 <= t.ema_decay < 1),
        ("schedule.joint_epochs", s.joint_epochs >= 1),
        ("schedule.pretrain_epochs", s.pretrain_epochs >= 0),
        ("preprocess.fs", cfg.preprocess.fs > 0),
        ("data.jitter", cfg.data.jitter >= 0),
        ("model.soft_coef", cfg.model.soft_coef >= 0),
    ]:
        if not ok:
            raise ConfigError(f"{name} is out of range ({_value(cfg, name)})")
    unknown = set(cfg.weighting.weights) - {"classification", "reconstruction"}
    if unknown:
        raise ConfigError(
            f"weighting.weights names unknown tasks {sorted(unknown)}; use classification, reconstruction"
        )
    task.check(cfg)


def check_output(out: Path, cfg: Config, resume: bool) -> None:
    """The run folder: writable, with room, and not someone else's run (unless resuming it)."""
    if not resume and (out / "last.pt").exists():
        raise ConfigError(f"{out} already holds a run; resume it with --resume {out} or choose another --out")
    parent = out if out.exists() else _existing_parent(out)
    if not parent.is_dir():
        raise RecordError(f"cannot create the run folder {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RecordError(f"the run folder {out} is not writable (no write permission on {parent})")
    try:  # permissions can lie (read-only mounts, root-squash): try for real
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise RecordError(f"the run folder {out} is not writable ({e.strerror})") from None
    free_mb = shutil.disk_usage(parent).free / 2**20
    if free_mb < cfg.train.min_free_mb:
        raise RecordError(f"only {free_mb:.0f} MB free where {out} goes; training needs {cfg.train.min_free_mb} MB")


def check_resume(out: Path, cfg: Config, saved: dict) -> None:
    """A run is resumed only with the configuration it was started with."""
    from ecgmtl.config import config_from_dict

    current = asdict(cfg)
    saved = asdict(config_from_dict(saved))  # a run saved before a key existed has that key's default
    diff = [k for k in current if current[k] != saved.get(k)]
    if diff:
        raise ConfigError(
            f"{out} was trained with another configuration (differs in: {', '.join(diff)}); "
            f"resume without --config/--set, or start a new --out"
        )


def _existing_parent(p: Path) -> Path:
    p = p.absolute()
    while not p.exists():
        p = p.parent
    return p


def _value(cfg: Config, dotted: str) -> object:
    obj: object = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
