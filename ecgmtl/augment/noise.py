"""Training windows corrupted with real noise, the clean window kept as the reconstruction target: the
reconstruction head becomes a denoiser and the classifier learns beats in noise.

The noise is NSTDB's muscle artifact (`ma`) and baseline wander (`bw`), both channels, from the **first half**
(in time) of each noise record only (the second half is for testing), filtered as the ECG is (resampled to
the model rate, band-passed), so that adding it to a filtered window equals filtering the noisy signal. Its
size follows WFDB's `nst`: SNR = 10 log10(S / N), S = (the window's QRS peak-to-peak)^2 / 8, N the raw noise
record's power (1-s windows, the top and bottom 5% left out). A third of the noisy windows take both kinds
at once, each 3 dB lower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

KINDS = ("ma", "bw")


class NoiseBank:
    """Filtered noise at the model rate, (kinds x channels, samples), and each kind's raw noise size (as nst
    measures it) and raw mean power; from the
    first half of each record (training) or the second (`half="second"`: testing only)."""

    def __init__(self, nstdb: Path, pcfg, kinds: tuple[str, ...] = KINDS, half: str = "first") -> None:
        from ecgmtl.io.record import read_record
        from ecgmtl.signal.noise import noise_half, noise_size
        from ecgmtl.signal.preprocess import prepare_signal

        rows, sizes, powers = [], [], []
        for k in kinds:
            rec = read_record(nstdb / k, annotations=False)
            raw = noise_half(rec.signal.astype(np.float64), half)
            for ch in range(raw.shape[1]):
                rows.append(prepare_signal(raw[:, ch] - raw[:, ch].mean(), rec.fs, pcfg))
                sizes.append(noise_size(raw[:, ch] - raw[:, ch].mean(), rec.fs))
                powers.append(float(np.mean((raw[:, ch] - raw[:, ch].mean()) ** 2)))
        n = min(len(r) for r in rows)
        self.kinds = kinds
        self.channels = len(rows) // len(kinds)
        self.signal = torch.from_numpy(np.stack([r[:n] for r in rows]).astype(np.float32))
        self.size = torch.tensor(sizes, dtype=torch.float32)
        self.power = torch.tensor(powers, dtype=torch.float32)  # mean power of the raw track (slow drift included)

    def starts(self, n: int, width: int, gen: torch.Generator | None) -> torch.Tensor:
        """n random crop starts for crops of `width` samples."""
        return torch.randint(0, self.signal.shape[1] - width, (n,), generator=gen)

    def crops_at(self, rows: torch.Tensor, start: torch.Tensor, width: int) -> torch.Tensor:
        """(batch, width) crops of the given rows from the given starts."""
        return self.signal[rows[:, None], start[:, None] + torch.arange(width)[None, :]]


def add_noise(
    x: torch.Tensor,
    bank: NoiseBank,
    prob: float,
    snr_db: tuple[float, float],
    pre: int,
    gen: torch.Generator | None,
    part: tuple[int, int] = (0, 1),
    leads: int = 1,
) -> torch.Tensor:
    """x (batch, channels, samples) with noise on a `prob` share of the windows at an SNR drawn uniformly from
    snr_db, measured on each lead's QRS (`pre`: the R peak's index, within 8 samples). The channels are `leads`
    equal groups, one per lead; a lead's noise goes on each of its channels (the template channel is the lead
    minus the record's median beat, so the lead's noise is in it too). A second lead takes the same stretch of
    noise from the noise record's other channel: NSTDB's two channels are the same noise seen in two leads. A
    lead that is all zeros (no such lead) stays zeros.

    `part` = (rank, world): under torch.distributed every rank draws for the global batch (world x batch, the
    same draws on every rank) and takes its part, as the loop's jitter does, so that N processes add the noise
    one process would, and the generator stays the same on every rank."""
    b, c, w = x.shape
    rank, world = part
    n = b * world
    if prob <= 0 or b == 0:
        return x
    mine = slice(rank, None, world)
    noisy = torch.rand(n, generator=gen) < prob
    if not bool(noisy.any()):
        return x
    per = c // leads
    s = [_qrs_power(x[:, g * per], pre) for g in range(leads)]
    snr = (snr_db[0] + (snr_db[1] - snr_db[0]) * torch.rand(n, generator=gen))[mine]
    n_kinds, ch = len(bank.kinds), bank.channels
    kind = torch.randint(0, n_kinds, (n,), generator=gen)[mine]
    both = (torch.rand(n, generator=gen)[mine] < 1 / 3) & torch.tensor(n_kinds > 1)
    noise = torch.zeros(leads, b, w)
    for k in range(n_kinds):
        use = (kind == k) | both
        rows = (k * ch + torch.randint(0, ch, (n,), generator=gen))[mine]
        start = bank.starts(n, w, gen)[mine]
        power = bank.size[rows] * 10 ** (torch.where(both, snr + 3.0, snr) / 10)
        for g in range(leads):
            r = k * ch + (rows - k * ch + g) % ch  # the lead's own channel of the noise record
            gain = torch.where(use & (s[g] > 0), torch.sqrt(s[g] / power), torch.zeros(b))
            noise[g] += gain[:, None] * bank.crops_at(r, start, w)
    noise = torch.where(noisy[mine][None, :, None], noise, torch.zeros_like(noise))
    return x + noise.repeat_interleave(per, dim=0).transpose(0, 1).to(x.device, x.dtype)


def _qrs_power(lead: torch.Tensor, pre: int) -> torch.Tensor:
    """nst's signal size of each window's lead: (QRS peak-to-peak)^2 / 8."""
    qrs = lead[:, max(pre - 8, 0) : pre + 9].detach().cpu().float()
    return (qrs.amax(dim=1) - qrs.amin(dim=1)) ** 2 / 8


def drop_lead(
    x: torch.Tensor, prob: float, per: int, gen: torch.Generator | None, part: tuple[int, int] = (0, 1)
) -> torch.Tensor:
    """x (batch, channels, samples) with the second lead's channels (from channel `per` on) zeroed on a `prob`
    share of the windows: what a one-lead record gives the model. Drawn for the global batch (see add_noise)."""
    rank, world = part
    drop = (torch.rand(x.shape[0] * world, generator=gen) < prob)[rank::world].to(x.device)
    out = x.clone()
    out[drop, per:] = 0
    return out
