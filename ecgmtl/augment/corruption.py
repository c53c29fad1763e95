"""Corruption of a training batch (`corrupt`), shared by the tasks whose reconstruction head is a denoiser:
NSTDB `ma` and `bw` from the **first** half of each noise record (ecgmtl.augment.noise.NoiseBank), alone or
mixed, at an SNR drawn per segment (the segment's mean power over the raw noise track's: the restoration
evaluation's definition), plus artefacts made here so that a model does not learn NSTDB alone: powerline hum
(50 or 60 Hz, what a 40 Hz low-pass leaves of it), spikes, clipping, amplitude steps and baseline steps (as the
0.5 Hz high-pass leaves a step: decaying with its time constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def segment_power(x: torch.Tensor) -> torch.Tensor:
    """The mean power of each clean filtered segment x (batch, samples): the S of SNR = 10 log10(S / N), N the
    raw noise track's mean power, as the evaluation measures the input SNR (evaluate.py)."""
    return x.float().pow(2).mean(dim=1).clamp_min(1e-8)


@dataclass(frozen=True)
class Corruption:
    """What `corrupt` draws: the share of segments given NSTDB noise, its SNR range (dB), and the share given
    one synthetic artefact on top (each kind equally likely)."""

    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (-6.0, 24.0)
    artefact_prob: float = 0.3


ARTEFACTS = ("powerline", "spikes", "clipping", "amplitude_step", "baseline_step")


def corrupt(
    x: torch.Tensor, bank, c: Corruption, fs: float, gen: torch.Generator | None, part: tuple[int, int] = (0, 1)
) -> torch.Tensor:
    """x (batch, 1, samples), the clean filtered segments -> the model's input. NSTDB noise on a
    `c.noise_prob` share (ma, bw, or both 3 dB lower each, a third each), then an artefact on a
    `c.artefact_prob` share.

    `part` = (rank, world): under torch.distributed every rank draws for the global batch (the same draws on
    every rank, so the generator stays in step) and applies its part, as the loop's jitter does."""
    b, _, w = x.shape
    rank, world = part
    n, mine = b * world, slice(rank, None, world)
    clean = x[:, 0].detach().cpu().float()
    out = clean.clone()
    s = segment_power(clean)
    noisy = (torch.rand(n, generator=gen) < c.noise_prob)[mine]
    snr = (c.snr_db[0] + (c.snr_db[1] - c.snr_db[0]) * torch.rand(n, generator=gen))[mine]
    mode = torch.randint(0, 3, (n,), generator=gen)[mine]  # 0: ma, 1: bw, 2: both
    for k, kind in enumerate(bank.kinds):
        use = noisy & ((mode == bank.kinds.index(kind)) | (mode == 2))
        rows = (k * bank.channels + torch.randint(0, bank.channels, (n,), generator=gen))[mine]
        crop = bank.crops_at(rows, bank.starts(n, w, gen)[mine], w)
        power = bank.power[rows] * 10 ** (torch.where(mode == 2, snr + 3.0, snr) / 10)
        out += torch.where(use, torch.sqrt(s / power), torch.zeros(b))[:, None] * crop
    amp = clean.amax(dim=1) - clean.amin(dim=1)  # about the QRS peak-to-peak
    which = torch.randint(0, len(ARTEFACTS), (n,), generator=gen)
    hit = torch.rand(n, generator=gen) < c.artefact_prob
    t = torch.arange(w, dtype=torch.float32) / fs
    for g in torch.nonzero(hit).flatten().tolist():  # the global batch's, in order: the draws stay in step
        kind = ARTEFACTS[int(which[g])]
        params = _draw_artefact(kind, w, gen)
        if g % world == rank:
            i = g // world
            out[i] = _artefact(out[i], kind, params, float(amp[i]), t, fs)
    return out[:, None, :].to(x.device, x.dtype)


def _draw_artefact(kind: str, w: int, gen: torch.Generator | None) -> dict:
    """An artefact's random parameters (drawn whatever the segment, so that every rank draws the same)."""
    u = lambda lo, hi: lo + (hi - lo) * float(torch.rand(1, generator=gen))  # noqa: E731
    p: dict = {"at": int(torch.randint(0, w, (1,), generator=gen))}
    if kind == "powerline":
        p["f"] = 50.0 if float(torch.rand(1, generator=gen)) < 0.5 else 60.0
        p["size"], p["phase"] = u(0.02, 0.2), u(0, 2 * math.pi)
    elif kind == "spikes":
        k = int(torch.randint(1, 6, (1,), generator=gen))
        p["idx"] = torch.randint(0, w, (k,), generator=gen)
        p["size"] = torch.rand(k, generator=gen) * 2 - 1
    elif kind == "clipping":
        p["level"] = u(0.4, 0.9)
    elif kind == "amplitude_step":
        p["gain"] = u(0.7, 1.3)
    else:
        p["size"] = u(-2, 2)
    return p


def _artefact(y: torch.Tensor, kind: str, p: dict, amp: float, t: torch.Tensor, fs: float) -> torch.Tensor:
    if kind == "powerline":
        f_seen = p["f"] if p["f"] < fs / 2 else fs - p["f"]  # what sampling at fs makes of it
        return y + p["size"] * amp * torch.sin(2 * math.pi * f_seen * t + p["phase"])
    if kind == "spikes":
        y = y.clone()
        y[p["idx"]] += p["size"] * 2 * amp
        return y
    if kind == "clipping":
        level = p["level"] * float(y.abs().max())
        return y.clamp(-level, level)
    if kind == "amplitude_step":
        y = y.clone()
        y[p["at"] :] *= p["gain"]
        return y
    tau = 1.0 / (2 * math.pi * 0.5)  # the 0.5 Hz high-pass's time constant (s)
    step = torch.where(t >= t[p["at"]], torch.exp(-(t - t[p["at"]]) / tau), torch.zeros_like(t))
    return y + p["size"] * amp * step
