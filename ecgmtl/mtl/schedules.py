"""Training schedules as plain functions of (epoch, batch): which tasks train on a batch, with what scale,
and the learning rate. How the trainer steps (one summed backward, or one backward and step per task) is
`ScheduleConfig.step`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ecgmtl.errors import ConfigError


@dataclass(frozen=True)
class ScheduleConfig:
    """Reconstruction pretraining for `pretrain_epochs`, then `joint_epochs` of joint training during which
    the reconstruction weight decays from `recon_start` to `recon_floor` (`decay`: linear, cosine, exp, none).

    alternate: in the joint phase, train both tasks on every batch ("none"), or one task at a time in turn,
    switching every batch ("batch") or every epoch ("epoch"); classification goes first.
    step: "summed" is one backward of the weighted sum and one optimizer step per batch; "per_task" is one
    forward, backward and optimizer step per task, in turn, on each batch.
    """

    pretrain_epochs: int = 2
    joint_epochs: int = 10
    recon_start: float = 1.0
    recon_floor: float = 0.1
    decay: str = "cosine"
    alternate: str = "none"
    step: str = "summed"

    @property
    def epochs(self) -> int:
        return self.pretrain_epochs + self.joint_epochs


def decay(kind: str, start: float, floor: float, progress: float) -> float:
    """Weight at `progress` in [0, 1] of the joint phase: start at 0, floor at 1."""
    p = min(max(progress, 0.0), 1.0)
    if kind == "none":
        return start
    if kind == "linear":
        return start + (floor - start) * p
    if kind == "cosine":
        return floor + (start - floor) * 0.5 * (1.0 + math.cos(math.pi * p))
    if kind == "exp":
        return start * (floor / start) ** p if start > 0 and floor > 0 else floor
    raise ConfigError(f"unknown decay {kind!r}; choose one of: linear, cosine, exp, none")


def task_scales(cfg: ScheduleConfig, epoch: int) -> dict[str, float]:
    """Multipliers applied to each task's loss at `epoch` (0-based) before the weighting method.

    Pretraining: reconstruction only. Joint: classification 1, reconstruction decaying epoch by epoch.
    """
    if epoch < cfg.pretrain_epochs:
        return {"reconstruction": 1.0}
    j = epoch - cfg.pretrain_epochs
    progress = j / max(cfg.joint_epochs - 1, 1)
    return {"classification": 1.0, "reconstruction": decay(cfg.decay, cfg.recon_start, cfg.recon_floor, progress)}


ALTERNATE = ("none", "batch", "epoch")
STEPS = ("summed", "per_task")


def batch_tasks(cfg: ScheduleConfig, epoch: int, batch: int) -> dict[str, float]:
    """The tasks trained on batch `batch` of `epoch` (0-based) and their scales: task_scales, with
    alternation applied in the joint phase."""
    scales = task_scales(cfg, epoch)
    if cfg.alternate == "none" or epoch < cfg.pretrain_epochs:
        return scales
    turn = batch if cfg.alternate == "batch" else epoch - cfg.pretrain_epochs
    task = ("classification", "reconstruction")[turn % 2]
    return {task: scales[task]}


def step_groups(cfg: ScheduleConfig, scales: dict[str, float]) -> list[dict[str, float]]:
    """The optimizer steps of one batch: all tasks in one ("summed"), or one step per task ("per_task")."""
    return [scales] if cfg.step == "summed" else [{t: s} for t, s in scales.items()]


def check_schedule(cfg: ScheduleConfig) -> None:
    decay(cfg.decay, 1.0, 0.5, 0.5)
    if cfg.alternate not in ALTERNATE:
        raise ConfigError(f"unknown schedule.alternate {cfg.alternate!r}; choose one of: {', '.join(ALTERNATE)}")
    if cfg.step not in STEPS:
        raise ConfigError(f"unknown schedule.step {cfg.step!r}; choose one of: {', '.join(STEPS)}")


def lr_factor(cfg: ScheduleConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier: 1 during pretraining, then a cosine from 1 to 0.02 over the joint phase."""
    if epoch < cfg.pretrain_epochs:
        return 1.0
    done = (epoch - cfg.pretrain_epochs) * steps_per_epoch + step
    return decay("cosine", 1.0, 0.02, done / max(cfg.joint_epochs * steps_per_epoch, 1))
