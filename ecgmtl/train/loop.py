"""The training loop, which knows no task: reconstruction pretraining, then joint training with a decaying
reconstruction weight; fixed or learned task weights; the best checkpoint by the task's validation score.

What differs between tasks (data, classification loss, model input, validation) is asked of the Task
(ecgmtl.tasks.base); the loop holds the model, the weighting, the data on the device, and runs epochs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ecgmtl.config import Config, dump_yaml
from ecgmtl.errors import ConfigError, TrainingStopped
from ecgmtl.models import build_model
from ecgmtl.mtl.constraints import HardProjection, soft_penalty
from ecgmtl.mtl.schedules import batch_tasks, lr_factor, step_groups, task_scales
from ecgmtl.mtl.weighting import WEIGHTINGS
from ecgmtl.tasks.registry import get_task
from ecgmtl.train.checkpoint import save_checkpoint
from ecgmtl.train.device import fits_on_device, host, memory_budget, resolve_device, seed_everything, use_bf16
from ecgmtl.train.distributed import SINGLE, Context, all_sum, check_batch, device_for, global_value, sum_gradients
from ecgmtl.train.provenance import run_record
from ecgmtl.train.state import TrainerState

TASKS = ("classification", "reconstruction")


class Trainer(TrainerState):
    """Holds the model, the weighting, the data on the device, and runs epochs."""

    def __init__(self, cfg: Config, out: Path, progress: bool = True, ctx: Context = SINGLE) -> None:
        from ecgmtl.train.preflight import check_config

        check_config(cfg)
        self.ctx = ctx
        self.cfg, self.out, self.progress = cfg, out, progress and ctx.main
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.device = device_for(ctx, resolve_device(cfg.train.device))
        self.local_batch = check_batch(ctx, cfg.train.batch_size)
        self.rng = seed_everything(cfg.train.seed)
        self.task = get_task(cfg.task)
        data = self.task.setup(cfg, ctx)  # the task keeps its validation data
        self.meta, self.window, self.max_shift = data.meta, data.window, data.max_shift
        windows, features, labels = data.windows, data.features, data.labels
        dev = self.device
        # fp64 (for numerical checks, e.g. that torch.distributed training equals one process) keeps the
        # weights and the training arrays in float64; otherwise they are float32.
        self.dtype = torch.float64 if cfg.train.precision == "fp64" else torch.float32
        # Windows larger than data.memory_mb stay memory-mapped cache shards, each batch read from them.
        # Otherwise the arrays live on the device when they fit in half its free memory, else in pinned host
        # memory, each batch copied over.
        self.mapped = windows.nbytes > memory_budget(cfg.data.memory_mb)
        nbytes = windows.nbytes + features.nbytes
        self.data_device = dev if not self.mapped and fits_on_device(dev, nbytes) else torch.device("cpu")
        pin = self.data_device != dev
        self.x = (
            windows
            if self.mapped
            else host(torch.from_numpy(np.asarray(windows)), pin).to(self.data_device, self.dtype)
        )
        self.features = host(torch.from_numpy(features), pin).to(self.data_device, self.dtype)
        self.y = host(torch.from_numpy(labels), pin).to(self.data_device)
        if labels.dtype.kind == "f":  # multi-label targets: in the loss's precision
            self.y = self.y.to(self.dtype)
        self.bf16 = use_bf16(cfg.train.precision, dev)
        self.placement = {
            "device": str(dev),
            "data_on_device": self.data_device == dev,
            "memory_mapped": self.mapped,
            "bf16_autocast": self.bf16,
            "compiled": cfg.train.compile,
            "world_size": ctx.world,
        }
        self.labels_np = labels
        cw = self.task.class_weights(labels, cfg)
        self.cw = None if cw is None else torch.from_numpy(cw).to(self.device, self.dtype)
        # As in the exported graph; soft constraints only on the outputs they name, computed only if any.
        n_classes = len(self.meta["classes"])
        self.projection = HardProjection(self.meta["constraints"], n_classes).to(self.device)
        self.soft_outputs = {c["output"] for c in self.meta["constraints"] if c["kind"] == "soft"}
        self.model = build_model(cfg.model, self.meta["in_leads"], features.shape[1], n_classes).to(dev, self.dtype)
        if ctx.active:
            self._prepare_distributed()
        # With train.ema_decay > 0, validation and checkpoints use a moving average of the weights.
        self.ema = (
            torch.optim.swa_utils.AveragedModel(
                self.model,
                multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.train.ema_decay),
                use_buffers=True,
            )
            if cfg.train.ema_decay > 0
            else None
        )
        w = cfg.weighting
        self.weighting = WEIGHTINGS.get(w.name)(
            TASKS,
            weights=dict(w.weights),
            alpha=w.alpha,
            temperature=w.temperature,
            beta=w.beta,
            beta_sigma=w.beta_sigma,
        ).to(dev, self.dtype)
        # torch.compile wraps the forward only: parameters, state dicts and checkpoints stay the model's own.
        self.net = torch.compile(self.model) if cfg.train.compile else self.model
        self.shared = self.model.shared_parameters()
        self.last_shared = self.model.last_shared_layer()
        self.params = list(self.model.parameters()) + list(self.weighting.parameters())
        groups = [{"params": list(self.model.parameters())}]
        if list(self.weighting.parameters()):  # learned task weights: no decay pulling them toward 0
            groups.append({"params": list(self.weighting.parameters()), "weight_decay": 0.0})
        # fused: one kernel for the whole update on a GPU instead of a few per parameter group
        self.opt = torch.optim.AdamW(
            groups, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay, fused=True if dev.type == "cuda" else None
        )
        self.epoch = 0  # epochs completed
        self.step = 0  # batches trained (a per-task schedule takes one optimizer step per task on each)
        self.best, self.best_epoch = float("-inf"), -1  # a score may be negative (an SNR gain in dB)
        self.nonfinite = 0  # steps skipped in a row

    def _prepare_distributed(self) -> None:
        """The same initial weights on every rank; SyncBatchNorm on CUDA; a warning where statistics stay local."""
        import torch.distributed as dist

        has_bn = any(isinstance(m, torch.nn.BatchNorm1d) for m in self.model.modules())
        if has_bn and self.device.type == "cuda":
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        elif has_bn and self.ctx.main and self.ctx.world > 1:
            print(
                "warning: batch norm statistics are per process on the CPU (gloo has no SyncBatchNorm); "
                "model.norm=group uses none",
                file=sys.stderr,
            )
        for t in self.model.state_dict().values():
            dist.broadcast(t, 0)

    def _epoch_indices(self, shuffle: bool = True) -> np.ndarray:
        return self.task.epoch_indices(self.labels_np, self.rng, self.cfg, shuffle)

    def _batches(self, epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """This rank's (item indices, crop shifts) per step. One process: the epoch's order, batch_size at a time,
        shifts drawn with the batch. Under torch.distributed: the epoch's items ordered by a DistributedSampler
        (set_epoch), and the shifts of each global batch drawn on every rank; each rank takes its part."""
        if not self.ctx.active:
            idx = self._epoch_indices()
            bs = self.cfg.train.batch_size
            # the shifts drawn batch by batch, as the batches come (the generator's sequence is unchanged)
            parts = [idx[s : s + bs] for s in range(0, len(idx), bs)]
            return [(part, self._shifts(len(part))) for part in parts]
        from torch.utils.data import DistributedSampler

        kept = self._epoch_indices(shuffle=False)
        sampler = DistributedSampler(
            kept,
            num_replicas=self.ctx.world,
            rank=self.ctx.rank,
            shuffle=True,
            seed=self.cfg.train.seed,
            drop_last=True,
        )
        sampler.set_epoch(epoch)
        mine = kept[np.fromiter(iter(sampler), dtype=np.int64)]
        out, b, w = [], self.local_batch, self.ctx.world
        for s in range(0, len(mine), b):
            part = mine[s : s + b]
            shift = self._shifts(len(part) * w)  # the global batch's
            out.append((part, shift[self.ctx.rank :: w]))
        return out

    def _shifts(self, n: int) -> np.ndarray:
        return self.rng.integers(0, self.max_shift + 1, size=n)

    def _on_device(
        self, batches: list[tuple[np.ndarray, np.ndarray]]
    ) -> list[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """The epoch's indices and shifts copied to the devices in one transfer each, not one per batch (a copy
        from pageable memory waits for the GPU)."""
        if not batches:
            return []
        sizes = np.cumsum([0] + [len(i) for i, _ in batches])
        idx = torch.from_numpy(np.concatenate([i for i, _ in batches])).to(self.data_device)
        shift = torch.from_numpy(np.concatenate([s for _, s in batches])).to(self.device)
        return [(b[0], idx[sizes[k] : sizes[k + 1]], shift[sizes[k] : sizes[k + 1]]) for k, b in enumerate(batches)]

    def _batch(self, idx: np.ndarray, i: torch.Tensor, shift: torch.Tensor):
        """Windows randomly shifted by up to `max_shift` samples (the detector's offset at prediction). `i` and
        `shift`: idx and its shifts on the devices (see _on_device)."""
        dev = self.device
        x = torch.from_numpy(self.x[idx]).to(dev, self.dtype) if self.mapped else self.x[i].to(dev, non_blocking=True)
        features, y = (a[i].to(dev, non_blocking=True) for a in (self.features, self.y))
        cols = shift[:, None, None] + torch.arange(self.window, device=dev)[None, None, :]
        x = torch.gather(x, 2, cols.expand(-1, x.shape[1], -1))
        return x, features, y

    def run_epoch(self, epoch: int) -> dict:
        from tqdm import tqdm

        self.model.train()
        batches = self._on_device(self._batches(epoch))
        tasks = task_scales(self.cfg.schedule, epoch)
        # Sums kept on the device (in float64, as Python floats would be) and read once at the epoch's end:
        # reading a value each step would wait for the GPU each step.
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        sums, counts = {t: zero for t in tasks}, {t: 0 for t in tasks}
        penalty_sum, skipped, steps = zero, 0, 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, disable=not self.progress, file=sys.stderr)
        for step, (idx, i, shift) in enumerate(bar):
            for group in self.opt.param_groups:
                group["lr"] = self.cfg.train.lr * lr_factor(self.cfg.schedule, epoch, step, len(batches))
            x, features, y = self._batch(idx, i, shift)
            for scales in step_groups(self.cfg.schedule, batch_tasks(self.cfg.schedule, epoch, step)):
                done = self._step(epoch, x, features, y, scales)
                if done is None:
                    skipped += 1
                    continue
                losses, penalty = done
                for t, v in losses.items():
                    sums[t] = sums[t] + v  # not +=: the sums start as one shared zero tensor
                    counts[t] += 1
                penalty_sum = penalty_sum + penalty
                steps += 1
            self.step += 1
        mean_losses = {t: float(sums[t]) / counts[t] for t in tasks if counts[t]}  # alternation may skip a task
        self.weighting.epoch_end(mean_losses)
        row = {
            "scales": tasks,
            "train_loss": mean_losses,
            "weights": self.weighting.weights(),
            "skipped_steps": skipped,
        }
        if self.cfg.model.sharing == "soft" or self.soft_outputs:
            row["penalty"] = float(penalty_sum) / max(steps, 1)  # mean over optimizer steps
        if self.cfg.model.sharing != "hard":
            row["encoder_distance"] = self.model.encoder_distance()
        return row

    def _step(self, epoch: int, x: torch.Tensor, features: torch.Tensor, y: torch.Tensor, scales: dict[str, float]):
        """One forward, backward and optimizer step on the tasks in `scales`; returns the task losses and the
        penalty (soft sharing + soft constraints) as float64 tensors on the device, or None where the step was
        skipped."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            inputs = self.task.model_input(x, self.cfg, self.ctx)
            out = self.net(inputs, features)
        out = {k: v.to(self.dtype) for k, v in out.items()}  # the losses (and penalties) in fp32 (or fp64)
        losses = self._losses(out, x, inputs, y, scales)
        values = torch.stack([losses[t].detach() for t in scales])
        # Gradient-based weightings keep state in their backward (initial losses, gradient buffers): a
        # non-finite loss must never reach it. For the others the check waits until after backward, so that
        # a step waits for the GPU once, not twice.
        if self.weighting.gradient_based and not bool(torch.isfinite(values).all()):
            return self._bad_loss(epoch, losses, scales)
        penalty = self._penalty(out, scales)
        self.opt.zero_grad(set_to_none=True)
        if penalty is not None:  # outside the weighting: its coefficient is the user's, not the method's
            penalty.backward(retain_graph=True)
        self.weighting.backward({t: scales[t] * losses[t] for t in scales}, self.shared, self.last_shared)
        if self.ctx.active:  # this rank's parts -> the global batch's gradient
            sum_gradients(list(self.model.parameters()), average=list(self.weighting.parameters()))
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads).reshape(1).to(values.device, values.dtype)
        if not bool(torch.isfinite(torch.cat([values, norm])).all()):
            if not bool(torch.isfinite(values).all()):
                return self._bad_loss(epoch, losses, scales)
            self._skip(epoch, "non-finite gradient (the losses were finite)")
            return None
        self.opt.step()
        self.weighting.after_step()
        self.nonfinite = 0
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return (
            {t: v.detach().double() for t, v in losses.items()},
            0.0 if penalty is None else penalty.detach().double(),
        )

    def _losses(
        self, out: dict[str, torch.Tensor], x: torch.Tensor, inputs: torch.Tensor, y: torch.Tensor, scales: dict
    ):
        """The task's classification and reconstruction losses over the batch (x the target windows, inputs
        the model's). Under torch.distributed each rank's part is its sum over the global denominator, and the
        value is global."""
        losses = {}
        if not self.ctx.active:
            if "classification" in scales:
                losses["classification"] = self.task.classification_loss(out["logits"], y, self.cw)
            if "reconstruction" in scales:
                losses["reconstruction"] = self.task.reconstruction_loss(out["reconstruction"], x, inputs)
            return losses
        if "classification" in scales:
            ce = self.task.classification_loss(out["logits"], y, self.cw, reduction="sum")
            losses["classification"] = global_value(ce / all_sum(self.task.loss_denominator(y, self.cw).detach()))
        if "reconstruction" in scales:
            se = self.task.reconstruction_loss(out["reconstruction"], x, inputs, reduction="sum")
            losses["reconstruction"] = global_value(se / all_sum(self.task.reconstruction_denominator(x).detach()))
        return losses

    def _penalty(self, out: dict[str, torch.Tensor], scales: dict[str, float]) -> torch.Tensor | None:
        """Soft sharing's L2 pull between the task encoders, plus soft constraints on the trained outputs."""
        outputs = {}
        if "classification" in scales and "probabilities" in self.soft_outputs:
            outputs["probabilities"] = self.task.probabilities(out["logits"])
        if "reconstruction" in scales and "reconstruction" in self.soft_outputs:
            outputs["reconstruction"] = out["reconstruction"]
        sharing, soft = self.model.sharing_penalty(), soft_penalty(self.meta["constraints"], outputs)
        if self.ctx.active:  # parts of the global value: the parameter term is the same on every rank
            n = torch.tensor(float(len(out["logits"])), device=out["logits"].device)
            sharing = None if sharing is None else sharing / self.ctx.world
            soft = None if soft is None else soft * (n / all_sum(n.clone()))
        terms = [t for t in (sharing, soft) if t is not None]
        if not terms:
            return None
        return global_value(sum(terms)) if self.ctx.active else sum(terms)

    def _bad_loss(self, epoch: int, losses: dict[str, torch.Tensor], scales: dict[str, float]) -> None:
        bad = [t for t in scales if not torch.isfinite(losses[t])]
        self._skip(epoch, f"non-finite {' and '.join(bad)} loss")

    def _skip(self, epoch: int, why: str) -> None:
        """A step with a non-finite loss or gradient is skipped; too many in a row stop the run."""
        self.opt.zero_grad(set_to_none=True)
        self.nonfinite += 1
        print(f"warning: epoch {epoch + 1}: {why}; step skipped ({self.nonfinite} in a row)", file=sys.stderr)
        if self.nonfinite >= self.cfg.train.max_nonfinite:
            raise TrainingStopped(
                f"stopped after {self.nonfinite} steps in a row with a {why}; the last good checkpoint is "
                f"{self.out / 'last.pt'} (epoch {self.epoch})"
            )

    @property
    def eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model

    @torch.no_grad()
    def validate(self) -> dict:
        """The task's validation figures, through the model and its hard constraints as the exported graph."""
        return self.task.validate(self.eval_model.eval(), self.projection, self.device, self.dtype, self.meta)

    def fit(self, resume: bool = False) -> dict:
        """Train the schedule's remaining epochs; writes metrics.jsonl, last.pt and best.pt in the run folder."""
        log = self.out / "metrics.jsonl"
        if resume:
            self._resume(log)
        if not self.ctx.main:  # under torch.distributed only rank 0 validates and writes
            for epoch in range(self.epoch, self.cfg.schedule.epochs):
                self.run_epoch(epoch)
                self.epoch = epoch + 1
            return {"rank": self.ctx.rank}
        if not resume:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(dump_yaml(self.cfg))
            (self.out / "run.json").write_text(json.dumps(run_record(self.cfg, self.meta, self.placement), indent=1))
            log.write_text("")
        for epoch in range(self.epoch, self.cfg.schedule.epochs):
            t0 = time.time()
            stats = self.run_epoch(epoch)
            val = self.validate()
            joint = "classification" in stats["scales"]
            row = {
                "epoch": epoch + 1,
                "phase": "joint" if joint else "pretrain",
                **stats,
                "val": {k: val[k] for k in self.task.val_keys},
                "val_per_class": val["per_class"],
            }
            seconds = round(time.time() - t0, 2)  # kept apart: metrics.jsonl is identical for identical runs
            self.epoch = epoch + 1
            improved = joint and val[self.task.score_key] > self.best
            if improved:
                self.best, self.best_epoch = val[self.task.score_key], epoch + 1
            # Order matters for a crash between writes: the metrics row first (a resume drops rows past
            # last.pt's epoch), last.pt last (a resumed run starts after the epoch it holds).
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            with (self.out / "timing.jsonl").open("a") as f:
                f.write(json.dumps({"epoch": epoch + 1, "seconds": seconds}) + "\n")
            ck = self.checkpoint(epoch + 1, val)
            if improved:
                save_checkpoint(self.out / "best.pt", ck)
            save_checkpoint(self.out / "last.pt", ck)
            print(
                f"epoch {epoch + 1:>2}/{self.cfg.schedule.epochs} {row['phase']:<8} "
                + " ".join(f"{t[:5]}={v:.4f}" for t, v in stats["train_loss"].items())
                + f" | {self.task.val_line(val)}"
                + f" | {seconds:.0f}s",
                file=sys.stderr,
            )
        if self.best_epoch < 0:
            raise ConfigError(
                "the schedule has no joint epoch, so no classifier was trained: set schedule.joint_epochs"
            )
        key = self.task.score_key
        result = {"best_epoch": self.best_epoch, f"best_val_{key}": self.best, "metric": key, "run": str(self.out)}
        return self.task.finish(result, self.out, self.cfg)
