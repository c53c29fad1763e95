"""Multi-task training on MIT-BIH beats: reconstruction pretraining, then joint training with a decaying
reconstruction weight; fixed or learned task weights; class-weighted cross-entropy; best by validation F1."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config, dump_yaml
from .data.mitdb import CLASSES, BeatDataset, data_fingerprint, load_beats, resolve_records
from .data.paths import cache_dir, data_root, database_dir
from .errors import ConfigError, TrainingStopped
from .metrics import class_report, constraint_report, prd
from .models import build_model
from .preprocess import RR_FEATURES
from .constraints import HardProjection, resolve, soft_penalty
from .schedules import batch_tasks, lr_factor, step_groups, task_scales
from .weighting import WEIGHTINGS

TASKS = ("classification", "reconstruction")


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


def _host(t: torch.Tensor, pin: bool) -> torch.Tensor:
    return t.pin_memory() if pin else t


def seed_everything(seed: int) -> np.random.Generator:
    import random

    random.seed(seed)
    np.random.seed(seed)  # the global generator, for library code that draws from it; ours uses the one below
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def load_split_data(cfg: Config) -> tuple[BeatDataset, BeatDataset, Path, list[str]]:
    """Training beats (with jitter margin) and validation beats (whole held-out records of the train split)."""
    db = database_dir(data_root(cfg.data.data_dir), "mitdb")
    records = resolve_records(cfg.data.train)
    val = list(cfg.data.val)  # preflight.check_config has made sure they are training records
    train_records = [r for r in records if r not in val]
    cache = cache_dir(cfg.data.cache_dir)
    full = load_beats(db, records, cfg.preprocess, cache, margin=cfg.data.jitter)
    return full.subset(train_records), full.subset(val), db, train_records


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """(n / n_c) ** power, scaled so that the mean weight over the training beats is 1; 0 for absent classes."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    return (w / (w[labels].mean())).astype(np.float32)


class Trainer:
    """Holds the model, the weighting, the data on the device, and runs epochs."""

    def __init__(self, cfg: Config, out: Path, progress: bool = True) -> None:
        from .preflight import check_config

        check_config(cfg)
        self.cfg, self.out, self.progress = cfg, out, progress
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.device = resolve_device(cfg.train.device)
        self.rng = seed_everything(cfg.train.seed)
        train, val, db, train_records = load_split_data(cfg)
        if len(train) == 0 or len(val) == 0:
            raise ConfigError("no training or validation beats: check data.train and data.val")
        self.rr_mean = train.rr.mean(axis=0)
        self.rr_std = train.rr.std(axis=0) + 1e-6
        centered = train.centered()
        self.bounds = (float(centered.min()), float(centered.max()))
        self.meta = {
            "classes": list(CLASSES),
            "rr_features": list(RR_FEATURES),
            "rr_mean": self.rr_mean.tolist(),
            "rr_std": self.rr_std.tolist(),
            "recon_bounds": list(self.bounds),
            "constraints": resolve(cfg.constraints, CLASSES, self.bounds),
            "in_leads": int(train.windows.shape[1]),
            "train_records": train_records,
            "val_records": list(cfg.data.val),
            "data_fingerprint": data_fingerprint(db, train_records + list(cfg.data.val)),
            "code_version": __version__,
        }
        dev = self.device
        rr_std = self._std_rr(train.rr)
        # The training arrays live on the device when they fit in half its free memory; otherwise in pinned
        # host memory, and each batch is copied over.
        self.data_device = dev if fits_on_device(dev, train.windows.nbytes + rr_std.nbytes) else torch.device("cpu")
        pin = self.data_device != dev
        self.x, self.rr, self.y = (
            _host(torch.from_numpy(a), pin).to(self.data_device) for a in (train.windows, rr_std, train.labels)
        )
        self.bf16 = use_bf16(cfg.train.precision, dev)
        self.labels_np = train.labels
        self.val = val
        self.val_x = torch.from_numpy(np.ascontiguousarray(val.centered()))
        self.val_rr = torch.from_numpy(self._std_rr(val.rr))
        self.cw = torch.from_numpy(class_weights(train.labels, len(CLASSES), cfg.train.class_weight_power)).to(dev)
        # As in the exported graph; soft constraints only on the outputs they name, computed only if any.
        self.projection = HardProjection(self.meta["constraints"], len(CLASSES)).to(self.device)
        self.soft_outputs = {c["output"] for c in self.meta["constraints"] if c["kind"] == "soft"}
        self.model = build_model(cfg.model, self.meta["in_leads"], len(RR_FEATURES), len(CLASSES)).to(dev)
        # With train.ema_decay > 0, validation and checkpoints use a moving average of the weights.
        self.ema = (
            torch.optim.swa_utils.AveragedModel(
                self.model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.train.ema_decay), use_buffers=True
            )
            if cfg.train.ema_decay > 0
            else None
        )
        w = cfg.weighting
        self.weighting = WEIGHTINGS.get(w.name)(
            TASKS, weights=dict(w.weights), alpha=w.alpha, temperature=w.temperature, beta=w.beta,
            beta_sigma=w.beta_sigma,
        ).to(dev)  # fmt: skip
        # torch.compile wraps the forward only: parameters, state dicts and checkpoints stay the model's own.
        self.net = torch.compile(self.model) if cfg.train.compile else self.model
        self.shared = self.model.shared_parameters()
        self.last_shared = self.model.last_shared_layer()
        self.params = list(self.model.parameters()) + list(self.weighting.parameters())
        groups = [{"params": list(self.model.parameters())}]
        if list(self.weighting.parameters()):  # learned task weights: no decay pulling them toward 0
            groups.append({"params": list(self.weighting.parameters()), "weight_decay": 0.0})
        self.opt = torch.optim.AdamW(groups, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        self.window = cfg.preprocess.window
        self.margin = cfg.data.jitter
        self.epoch = 0  # epochs completed
        self.step = 0  # batches trained (a per-task schedule takes one optimizer step per task on each)
        self.best, self.best_epoch = -1.0, -1
        self.nonfinite = 0  # steps skipped in a row

    def state(self) -> dict:
        """Everything a resumed run needs to continue exactly as if it had not stopped."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "weighting": self.weighting.state_dict(),
            "optimizer": self.opt.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
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
        self.epoch, self.step, self.best, self.best_epoch = st["epoch"], st["step"], st["best"], st["best_epoch"]

    def _std_rr(self, rr: np.ndarray) -> np.ndarray:
        return ((rr - self.rr_mean) / self.rr_std).astype(np.float32)

    def _epoch_indices(self) -> np.ndarray:
        """All non-N beats and a fresh random fraction of the N beats, shuffled."""
        idx = np.arange(len(self.labels_np))
        if self.cfg.train.n_fraction < 1.0:
            is_n = self.labels_np == 0
            keep = ~is_n | (self.rng.random(len(idx)) < self.cfg.train.n_fraction)
            idx = idx[keep]
        return self.rng.permutation(idx)

    def _batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Windows randomly shifted by up to `margin` samples (the detector's offset at prediction)."""
        dev = self.device
        i = torch.from_numpy(idx).to(self.data_device)
        shift = torch.from_numpy(self.rng.integers(0, 2 * self.margin + 1, size=len(idx))).to(dev)
        x, rr, y = (a[i].to(dev, non_blocking=True) for a in (self.x, self.rr, self.y))
        cols = shift[:, None, None] + torch.arange(self.window, device=dev)[None, None, :]
        x = torch.gather(x, 2, cols.expand(-1, x.shape[1], -1))
        return x, rr, y

    def run_epoch(self, epoch: int) -> dict:
        from tqdm import tqdm

        self.model.train()
        idx = self._epoch_indices()
        bs = self.cfg.train.batch_size
        tasks = task_scales(self.cfg.schedule, epoch)
        sums, counts = {t: 0.0 for t in tasks}, {t: 0 for t in tasks}
        penalty_sum, skipped, steps = 0.0, 0, 0
        batches = range(0, len(idx), bs)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, disable=not self.progress, file=sys.stderr)
        for step, s in enumerate(bar):
            for group in self.opt.param_groups:
                group["lr"] = self.cfg.train.lr * lr_factor(self.cfg.schedule, epoch, step, len(batches))
            x, rr, y = self._batch(idx[s : s + bs])
            for scales in step_groups(self.cfg.schedule, batch_tasks(self.cfg.schedule, epoch, step)):
                done = self._step(epoch, x, rr, y, scales)
                if done is None:
                    skipped += 1
                    continue
                losses, penalty = done
                for t, v in losses.items():
                    sums[t] += v
                    counts[t] += 1
                penalty_sum += penalty
                steps += 1
            self.step += 1
        mean_losses = {t: sums[t] / counts[t] for t in tasks if counts[t]}  # alternation may skip a task
        self.weighting.epoch_end(mean_losses)
        row = {"scales": tasks, "train_loss": mean_losses, "weights": self.weighting.weights(), "skipped_steps": skipped}
        if self.cfg.model.sharing == "soft" or self.soft_outputs:
            row["penalty"] = penalty_sum / max(steps, 1)  # mean over optimizer steps
        if self.cfg.model.sharing != "hard":
            row["encoder_distance"] = self.model.encoder_distance()
        return row

    def _step(self, epoch: int, x: torch.Tensor, rr: torch.Tensor, y: torch.Tensor, scales: dict[str, float]):
        """One forward, backward and optimizer step on the tasks in `scales`; returns the task losses and the
        penalty (soft sharing + soft constraints) as floats, or None where the step was skipped."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.net(x, rr)
        out = {k: v.float() for k, v in out.items()}  # the losses (and penalties) are computed in fp32
        losses = {}
        if "classification" in scales:
            losses["classification"] = F.cross_entropy(out["logits"], y, weight=self.cw)
        if "reconstruction" in scales:
            losses["reconstruction"] = F.mse_loss(out["reconstruction"], x)
        bad = [t for t in scales if not torch.isfinite(losses[t])]
        if bad:
            self._skip(epoch, f"non-finite {' and '.join(bad)} loss")
            return None
        penalty = self._penalty(out, scales)
        self.opt.zero_grad(set_to_none=True)
        if penalty is not None:  # outside the weighting: its coefficient is the user's, not the method's
            penalty.backward(retain_graph=True)
        self.weighting.backward({t: scales[t] * losses[t] for t in scales}, self.shared, self.last_shared)
        grads = [p.grad for p in self.params if p.grad is not None]
        if not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            self._skip(epoch, "non-finite gradient (the losses were finite)")
            return None
        self.opt.step()
        self.weighting.after_step()
        self.nonfinite = 0
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return {t: float(v.detach()) for t, v in losses.items()}, 0.0 if penalty is None else float(penalty.detach())

    def _penalty(self, out: dict[str, torch.Tensor], scales: dict[str, float]) -> torch.Tensor | None:
        """Soft sharing's L2 pull between the task encoders, plus soft constraints on the trained outputs."""
        outputs = {}
        if "classification" in scales and "probabilities" in self.soft_outputs:
            outputs["probabilities"] = torch.softmax(out["logits"], dim=-1)
        if "reconstruction" in scales and "reconstruction" in self.soft_outputs:
            outputs["reconstruction"] = out["reconstruction"]
        terms = [t for t in (self.model.sharing_penalty(), soft_penalty(self.meta["constraints"], outputs)) if t is not None]
        return sum(terms) if terms else None

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
        """Validation beats through the model and its hard constraints, as the exported graph computes them."""
        model = self.eval_model.eval()
        probs, recon = [], []
        for s in range(0, len(self.val_x), 4096):
            out = model(self.val_x[s : s + 4096].to(self.device), self.val_rr[s : s + 4096].to(self.device))
            p, r = self.projection(torch.softmax(out["logits"], dim=-1), out["reconstruction"])
            probs.append(p.cpu())
            recon.append(r.cpu())
        p, r = torch.cat(probs).numpy(), torch.cat(recon).numpy()
        rep = class_report(self.val.labels, p.argmax(1), CLASSES)
        rep["prd"] = prd(self.val_x[:, 0].numpy(), r[:, 0])  # the lead itself
        rep["constraints"] = [c["violation_rate"] for c in constraint_report(p, r, self.meta["constraints"])]
        return rep

    def checkpoint(self, epoch: int, val: dict) -> dict:
        return {
            "config": asdict(self.cfg),
            "model_state": {k: v.detach().cpu() for k, v in self.eval_model.state_dict().items()},
            "weighting_state": self.weighting.state_dict(),
            "meta": {**self.meta, "epoch": epoch, "val": {k: val[k] for k in ("accuracy", "macro_f1", "prd")}},
            "train_state": self.state(),
        }

    def fit(self, resume: bool = False) -> dict:
        """Train the schedule's remaining epochs; writes metrics.jsonl, last.pt and best.pt in the run folder."""
        log = self.out / "metrics.jsonl"
        if resume:
            self._resume(log)
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(dump_yaml(self.cfg))
            (self.out / "run.json").write_text(json.dumps(run_record(self.cfg, self.meta, self.device, self.data_device == self.device, self.bf16), indent=1))
            log.write_text("")
        for epoch in range(self.epoch, self.cfg.schedule.epochs):
            t0 = time.time()
            stats = self.run_epoch(epoch)
            val = self.validate()
            joint = "classification" in stats["scales"]
            row = {"epoch": epoch + 1, "phase": "joint" if joint else "pretrain", **stats,
                   "val": {k: val[k] for k in ("accuracy", "macro_f1", "prd", "constraints")},
                   "val_per_class": val["per_class"]}  # fmt: skip
            seconds = round(time.time() - t0, 2)  # kept apart: metrics.jsonl is identical for identical runs
            self.epoch = epoch + 1
            improved = joint and val["macro_f1"] > self.best
            if improved:
                self.best, self.best_epoch = val["macro_f1"], epoch + 1
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
                + f" | val acc={val['accuracy']:.4f} macroF1={val['macro_f1']:.4f} PRD={val['prd']:.1f}%"
                + f" | {seconds:.0f}s",
                file=sys.stderr,
            )
        if self.best_epoch < 0:
            raise ConfigError("the schedule has no joint epoch, so no classifier was trained: set schedule.joint_epochs")
        return {"best_epoch": self.best_epoch, "best_val_macro_f1": self.best, "run": str(self.out)}

    def _resume(self, log: Path) -> None:
        """Continue after the last completed epoch: its state, and the metrics of the epochs before it."""
        ck = load_checkpoint(self.out / "last.pt")
        self.load_state(ck["train_state"])
        for stale in self.out.glob(".*.tmp"):  # a write the crash interrupted
            stale.unlink()
        rows = log.read_text().splitlines() if log.exists() else []
        kept = [r for r in rows if r.strip() and json.loads(r)["epoch"] <= self.epoch]
        log.write_text("".join(r + "\n" for r in kept))
        print(f"resuming {self.out} after epoch {self.epoch}", file=sys.stderr)


def run_record(cfg: Config, meta: dict, device: torch.device | None = None, data_on_device: bool = True,
               bf16: bool = False) -> dict:
    """What makes a run repeatable: seed, code and library versions, the data's hash."""
    import platform

    from .doctor import versions

    libs = {k: v for k, v in versions().items() if v is not None and k != "ecgmtl"}
    return {
        "seed": cfg.train.seed,
        "code_version": __version__,
        "python": platform.python_version(),
        "libraries": libs,
        "threads": torch.get_num_threads(),
        "data_fingerprint": meta["data_fingerprint"],
        "train_records": meta["train_records"],
        "val_records": meta["val_records"],
        "data_loader_workers": 0,  # the arrays live in memory (or on the device): no worker processes to seed
        "device": str(device) if device is not None else cfg.train.device,
        "data_on_device": data_on_device,
        "bf16_autocast": bf16,
        "compiled": cfg.train.compile,
    }


def train(cfg: Config, out: Path, progress: bool = True, resume: bool = False) -> dict:
    """Check everything that can be checked first, then train (or resume) into the run folder `out`."""
    from .preflight import check_config, check_output, check_resume

    check_config(cfg)
    check_output(out, cfg, resume)
    if resume:
        check_resume(out, cfg, load_checkpoint(out / "last.pt")["config"])
    return Trainer(cfg, out, progress).fit(resume)


def resume_config(out: Path) -> Config:
    """The configuration a run was started with, from its last checkpoint."""
    from .config import config_from_dict

    return config_from_dict(load_checkpoint(out / "last.pt")["config"])
