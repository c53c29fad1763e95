"""Multi-task training on PTB-XL's 12-lead records: superdiagnostic multi-label classification (sigmoid
outputs, binary cross-entropy) and 12-lead reconstruction with lead masking, on the Trainer of MIT-BIH.

As the benchmark (Strodthoff et al. 2020): random crops of data.crop_s seconds for training (data.crops_per_epoch
per record per epoch), sliding windows (data.stride_s apart) with the maximum over windows at validation and
test. Signals are standardised per lead with the training folds' mean and standard deviation (kept in the model).

Lead masking: a fraction data.mask_prob of the training windows has 1..data.mask_max leads, drawn at random,
zeroed in the input (0 after standardisation, the lead's training mean); the reconstruction target keeps them,
so the model learns to rebuild a lead from the others (`ecgmtl predict --reconstruct-missing`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .checkpoint import load_checkpoint
from .config import Config
from .constraints import resolve
from .data.paths import cache_dir, data_root, database_dir
from .data.ptbxl import FOLDS, LEADS, SUPERCLASSES, load_ptbxl, sliding_windows
from .errors import ConfigError
from .metrics import bootstrap_auc, constraint_report, multilabel_report, prd
from .train import Trainer

TASK = "ptbxl-superdiagnostic"


def ptbxl_geometry(cfg: Config) -> tuple[int, int]:
    """(window, stride) in samples at data.rate."""
    return int(round(cfg.data.crop_s * cfg.data.rate)), max(int(round(cfg.data.stride_s * cfg.data.rate)), 1)


def load_ptbxl_split(cfg: Config, split: str):
    root = database_dir(data_root(cfg.data.data_dir), "ptbxl")
    return load_ptbxl(root, split, cfg.data.rate, cache_dir(cfg.data.cache_dir))


def standardise(signals: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((signals - mean[:, None]) / std[:, None]).astype(np.float32)


def hide_leads(x: torch.Tensor, prob: float, most: int) -> torch.Tensor:
    """Zero 1..`most` random leads in a random fraction `prob` of the windows x (batch, leads, samples)."""
    if prob <= 0:
        return x
    b, leads = x.shape[:2]
    count = torch.randint(1, most + 1, (b,), device=x.device) * (torch.rand(b, device=x.device) < prob)
    rank = torch.rand(b, leads, device=x.device).argsort(dim=1).argsort(dim=1)  # a random order of the leads
    return x.masked_fill((rank < count[:, None])[:, :, None], 0.0)


def select_thresholds(targets: np.ndarray, probs: np.ndarray) -> list[float]:
    """Per class, the probability threshold that maximises F1 on (targets, probs): the validation fold's."""
    from sklearn.metrics import precision_recall_curve

    out = []
    for k in range(targets.shape[1]):
        if targets[:, k].min() == targets[:, k].max():  # one label only: no curve
            out.append(0.5)
            continue
        prec, rec, thr = precision_recall_curve(targets[:, k], probs[:, k])
        f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
        out.append(float(thr[int(np.argmax(f1))]))
    return out


class PtbxlTrainer(Trainer):
    score_key = "macro_auc"
    val_keys = ("macro_auc", "macro_auc_interval", "macro_f1", "prd", "constraints", "exclusion_before_projection",
                "thresholds")  # fmt: skip
    VAL_BOOT = 200  # bootstrap resamples of fold 9 behind the interval logged each epoch

    def _setup_data(self, cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.ctx.active:
            raise ConfigError("PTB-XL training runs in one process for now (torch.distributed is for MIT-BIH)")
        train, val = load_ptbxl_split(cfg, "train"), load_ptbxl_split(cfg, "val")
        self.lead_mean = train.signals.mean(axis=(0, 2)).astype(np.float64)
        self.lead_std = train.signals.std(axis=(0, 2)).astype(np.float64) + 1e-6
        z = standardise(train.signals, self.lead_mean, self.lead_std)
        self.bounds = (float(z.min()), float(z.max()))
        self.window, stride = ptbxl_geometry(cfg)
        if self.window > z.shape[-1]:
            raise ConfigError(f"data.crop_s ({cfg.data.crop_s} s) is longer than the records ({z.shape[-1] / cfg.data.rate:g} s)")
        self.max_shift = z.shape[-1] - self.window  # a random crop anywhere in the record
        h = hashlib.sha256()
        for part in (train, val):
            for a in (part.ecg_id, part.targets, part.signals):
                h.update(np.ascontiguousarray(a).tobytes())
        self.meta = {
            "task": TASK,
            "classes": list(SUPERCLASSES),
            "multilabel": True,
            "leads": list(LEADS),
            "fs": cfg.data.rate,
            "window": self.window,
            "stride": stride,
            "lead_mean": self.lead_mean.tolist(),
            "lead_std": self.lead_std.tolist(),
            "rr_features": [],
            "rr_mean": [],
            "rr_std": [],
            "recon_bounds": list(self.bounds),
            "constraints": resolve(cfg.constraints, SUPERCLASSES, self.bounds),
            "in_leads": len(LEADS),
            "train_records": [int(i) for i in train.ecg_id],
            "val_records": [int(i) for i in val.ecg_id],
            "folds": {k: list(v) for k, v in FOLDS.items()},
            "data_fingerprint": h.hexdigest()[:16],
            "code_version": __version__,
        }
        self.val = val
        # validation windows, standardised: (records, windows, leads, window)
        self.val_windows = torch.from_numpy(sliding_windows(standardise(val.signals, self.lead_mean, self.lead_std),
                                                            self.window, stride))  # fmt: skip
        return z, np.zeros((len(z), 0), np.float32), train.targets

    def _class_weights(self, labels: np.ndarray) -> None:
        return None  # multi-label: plain binary cross-entropy, as the benchmark

    def _classification_loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def _epoch_indices(self, shuffle: bool = True) -> np.ndarray:
        """Every training record data.crops_per_epoch times (each draw a new random crop)."""
        idx = np.tile(np.arange(len(self.labels_np)), self.cfg.data.crops_per_epoch)
        return self.rng.permutation(idx) if shuffle else idx

    def _model_input(self, x: torch.Tensor) -> torch.Tensor:
        return hide_leads(x, self.cfg.data.mask_prob, self.cfg.data.mask_max)

    def _val_line(self, val: dict) -> str:
        lo, hi = val["macro_auc_interval"]
        return f"val macroAUC={val['macro_auc']:.4f} [{lo:.3f}, {hi:.3f}] macroF1={val['macro_f1']:.4f} PRD={val['prd']:.1f}%"

    def fit(self, resume: bool = False) -> dict:
        from .evaluate_ptbxl import NOT_COMPARABLE

        result = super().fit(resume)
        ck = load_checkpoint(self.out / "best.pt") if self.ctx.main else None
        if ck is not None:
            result["best_val_macro_auc_interval"] = ck["meta"]["val"]["macro_auc_interval"]
            result["note"] = (f"fold 9 ({len(self.val)} records), 90% bootstrap interval; "
                              + NOT_COMPARABLE.format(n=len(self.meta["train_records"]) + len(self.val) + _test_count(self.cfg)))  # fmt: skip
        return result

    @torch.no_grad()
    def validate(self) -> dict:
        """Fold 9 as the exported graph computes it: the maximum of the sigmoid outputs over windows, then the
        hard constraints; AUC, F1 at thresholds chosen here, PRD (mV, all leads) and violation rates."""
        probs, raw, recon = record_outputs(self.eval_model.eval(), self.projection, self.val_windows, self.device, self.dtype)
        targets = self.val.targets
        thresholds = select_thresholds(targets, probs)
        rep = multilabel_report(targets, probs, SUPERCLASSES, thresholds)
        rep["macro_auc_interval"] = bootstrap_auc(targets, probs, self.VAL_BOOT, seed=0)["macro_auc_interval"]
        scale = self.lead_std[None, None, :, None]
        rep["prd"] = prd(self.val_windows.numpy() * scale, recon * scale)
        rep["constraints"] = [c["violation_rate"] for c in constraint_report(probs, None, self._prob_constraints())]
        ex = [c for c in self.meta["constraints"] if c.get("exclusive") is not None]
        rep["exclusion_before_projection"] = constraint_report(raw, None, ex[:1])[0]["violation_rate"] if ex else None
        rep["thresholds"] = thresholds
        return rep

    def _prob_constraints(self) -> list[dict]:
        return [c for c in self.meta["constraints"] if c["output"] == "probabilities"]


def _test_count(cfg: Config) -> int:
    from .data.ptbxl import read_table

    records, _ = read_table(database_dir(data_root(cfg.data.data_dir), "ptbxl"), cfg.data.rate)
    return sum(r.fold in FOLDS["test"] for r in records)


@torch.no_grad()
def record_outputs(model: torch.nn.Module, projection, windows: torch.Tensor, device, dtype=torch.float32,
                   batch: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Record-level probabilities (max over windows of the sigmoid, then the hard constraints), the same before
    the constraints, and the window reconstructions (standardised, clamped), for windows (records, windows,
    leads, samples) of standardised signals."""
    probs, raw, recon = [], [], []
    n, w = windows.shape[:2]
    for s in range(0, n, batch):
        part = windows[s : s + batch]
        flat = part.flatten(0, 1).to(device, dtype)
        out = model(flat)
        p = torch.sigmoid(out["logits"].float()).reshape(len(part), w, -1).amax(dim=1)
        q, r = projection(p, out["reconstruction"].float())
        probs.append(q.cpu())
        raw.append(p.cpu())
        recon.append(r.reshape(part.shape).cpu())
    return torch.cat(probs).numpy(), torch.cat(raw).numpy(), torch.cat(recon).numpy()
