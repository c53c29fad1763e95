"""The 12-lead task's training pieces (torch): crops' geometry, standardisation, lead masking, the thresholds
chosen on the validation fold, and record-level outputs as the exported graph computes them."""

from __future__ import annotations

import numpy as np
import torch

from ecgmtl.config import Config
from ecgmtl.data.paths import cache_dir, data_root, database_dir
from ecgmtl.data.ptbxl import load_ptbxl
from ecgmtl.train.distributed import Context


def ptbxl_geometry(cfg: Config) -> tuple[int, int]:
    """(window, stride) in samples at data.rate."""
    return int(round(cfg.data.crop_s * cfg.data.rate)), max(int(round(cfg.data.stride_s * cfg.data.rate)), 1)


def load_ptbxl_split(cfg: Config, split: str):
    root = database_dir(data_root(cfg.data.data_dir), "ptbxl")
    return load_ptbxl(root, split, cfg.data.rate, cache_dir(cfg.data.cache_dir))


def standardise(signals: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((signals - mean[:, None]) / std[:, None]).astype(np.float32)


def hide_leads(
    x: torch.Tensor, prob: float, most: int, ctx: Context | None = None, corr: torch.Tensor | None = None
) -> torch.Tensor:
    """Zero 1..`most` random leads in a random fraction `prob` of the windows x (batch, leads, samples); with
    `corr` (the leads' correlation, data.mask_fill: regression) fill them instead with their linear regression
    on the visible leads (leads.conditional_fill), so that the network refines the regression's estimate.

    Under torch.distributed the draws are those of the global batch (every rank draws them all, the same), and
    each rank takes its part, as the loop's jitter: N processes hide the leads one process would."""
    if prob <= 0:
        return x
    world, rank_of = (ctx.world, ctx.rank) if ctx is not None and ctx.active else (1, 0)
    b, leads = x.shape[:2]
    n = b * world
    count = torch.randint(1, most + 1, (n,), device=x.device) * (torch.rand(n, device=x.device) < prob)
    rank = torch.rand(n, leads, device=x.device).argsort(dim=1).argsort(dim=1)  # a random order of the leads
    count, rank = count[rank_of::world], rank[rank_of::world]
    hidden = rank < count[:, None]
    if corr is not None:
        from ecgmtl.tasks.twelve_lead.leads import conditional_fill_torch

        return conditional_fill_torch(x, hidden, corr)
    return x.masked_fill(hidden[:, :, None], 0.0)


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


@torch.no_grad()
def record_outputs(
    model: torch.nn.Module, projection, windows: torch.Tensor, device, dtype=torch.float32, batch: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
