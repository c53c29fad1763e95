"""A trainer's state: what a resumed run needs to continue exactly as if it had not stopped, and the
checkpoints written after each epoch (self-describing: config, weights, metadata, training state)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from ecgmtl.train.checkpoint import load_checkpoint


class TrainerState:
    """Mixed into the Trainer: reads and writes its model, EMA, weighting, optimizer, generators and counters."""

    def state(self) -> dict:
        """Everything a resumed run needs to continue exactly as if it had not stopped."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "weighting": self.weighting.state_dict(),
            "optimizer": self.opt.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "task_rng": {k: g.get_state() for k, g in self.task.generators().items()},
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "best_epoch": self.best_epoch,
        }

    def load_state(self, st: dict) -> None:
        self.model.load_state_dict(st["model"])
        if self.ema is not None:
            self.ema.load_state_dict(st["ema"])
        self.weighting.load_state_dict(st["weighting"])
        self.opt.load_state_dict(st["optimizer"])
        self.rng.bit_generator.state = st["numpy_rng"]
        torch.set_rng_state(st["torch_rng"])
        saved = st.get("task_rng", {})  # a checkpoint from before the task kept its generators has none
        for k, g in self.task.generators().items():
            if k in saved:
                g.set_state(saved[k])
        self.epoch, self.step, self.best, self.best_epoch = st["epoch"], st["step"], st["best"], st["best_epoch"]

    def checkpoint(self, epoch: int, val: dict) -> dict:
        return {
            "config": asdict(self.cfg),
            "model_state": {k: v.detach().cpu() for k, v in self.eval_model.state_dict().items()},
            "weighting_state": self.weighting.state_dict(),
            "meta": {**self.meta, "epoch": epoch, "val": {k: val[k] for k in self.task.val_keys if k != "constraints"}},
            "train_state": self.state(),
        }

    def _resume(self, log: Path) -> None:
        """Continue after the last completed epoch: its state, and the metrics of the epochs before it."""
        ck = load_checkpoint(self.out / "last.pt")
        self.load_state(ck["train_state"])
        for stale in self.out.glob(".*.tmp") if self.ctx.main else ():  # a write the crash interrupted
            stale.unlink()
        if not self.ctx.main:
            return
        rows = log.read_text().splitlines() if log.exists() else []
        kept = [r for r in rows if r.strip() and json.loads(r)["epoch"] <= self.epoch]
        log.write_text("".join(r + "\n" for r in kept))
        print(f"resuming {self.out} after epoch {self.epoch}", file=sys.stderr)
