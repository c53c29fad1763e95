"""Noise from the MIT-BIH Noise Stress Test Database (NSTDB) added to clean records at a chosen SNR, in
alternating segments: the test bed for signal-quality gating."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def noise_track(nstdb: Path, kind: str = "ma", channel: int = 0) -> tuple[np.ndarray, float]:
    """One NSTDB noise channel in mV and its sampling rate ('ma' muscle artifact, 'bw' baseline wander,
    'em' electrode motion where the folder has it)."""
    from ecgmtl.io.record import read_record

    rec = read_record(nstdb / kind, annotations=False)
    return rec.signal[:, channel].astype(np.float64), rec.fs


def noisy_mask(n: int, fs: float, period_s: float = 120.0, noisy_s: float = 60.0, start_s: float = 60.0) -> np.ndarray:
    """True on samples in noisy stretches: `noisy_s` seconds every `period_s`, from `start_s` on."""
    t = np.arange(n) / fs
    return (t >= start_s) & (((t - start_s) % period_s) < noisy_s)


def signal_size(clean: np.ndarray, r_peaks: np.ndarray, fs: float) -> float:
    """S as nst (WFDB) measures it: (median QRS peak-to-peak amplitude)^2 / 8, the power of a sine of that
    peak-to-peak amplitude; the amplitude is taken within 50 ms of each R peak."""
    h = int(round(0.05 * fs))
    padded = np.pad(np.asarray(clean, np.float64), h, mode="edge")
    win = padded[np.asarray(r_peaks)[:, None] + np.arange(2 * h + 1)[None, :]]
    return float(np.median(win.max(axis=1) - win.min(axis=1)) ** 2 / 8)


def noise_size(noise: np.ndarray, fs: float) -> float:
    """N as nst measures it: the mean power of the noise in 1-s windows, the top and bottom 5% left out."""
    n = int(fs)
    w = np.asarray(noise[: len(noise) // n * n], np.float64).reshape(-1, n)
    p = np.sort(w.var(axis=1))
    k = len(p) // 20
    return float(p[k : len(p) - k].mean())


def add_noise(
    clean: np.ndarray,
    noise: np.ndarray,
    mask: np.ndarray,
    snr_db: float,
    r_peaks: np.ndarray,
    fs: float,
    offset: int = 0,
) -> np.ndarray:
    """clean + a * noise on the masked samples, a chosen so that 10 log10(S / (a^2 N)) = snr_db with S and N
    measured as nst does (signal_size, noise_size)."""
    clean = np.asarray(clean, np.float64)
    take = np.resize(np.roll(noise, -offset), clean.shape[0])
    take = take - take.mean()
    a = np.sqrt(signal_size(clean, r_peaks, fs) / (noise_size(take, fs) * 10 ** (snr_db / 10)))
    return np.where(mask, clean + a * take, clean)


def gating_rates(result: dict, mask_times: np.ndarray, fs: float) -> dict:
    """Share of predicted beats labelled unclassified inside and outside the noisy stretches."""
    idx = np.array([b["sample"] for b in result["beats"]], dtype=np.int64)
    un = np.array([b["class"] == "unclassified" for b in result["beats"]], dtype=bool)
    noisy = mask_times[np.clip(idx, 0, len(mask_times) - 1)] if len(idx) else np.zeros(0, bool)
    return {
        "beats_noisy": int(noisy.sum()),
        "beats_clean": int((~noisy).sum()),
        "unclassified_noisy": int((un & noisy).sum()),
        "unclassified_clean": int((un & ~noisy).sum()),
    }


def noise_half(track: np.ndarray, half: str) -> np.ndarray:
    """The first or the second half (in time) of a noise track: training and selection take noise from the
    first half of each NSTDB record, tests from the second, so that no test noise is ever learnt."""
    if half not in ("first", "second"):
        raise ValueError(f"half must be 'first' or 'second', not {half!r}")
    mid = len(track) // 2
    return track[:mid] if half == "first" else track[mid:]


def noisy_leads(
    leads: np.ndarray,
    noise: np.ndarray,
    mask: np.ndarray,
    snr_db: float,
    r_peaks: np.ndarray,
    fs: float,
    offset: int = 0,
) -> np.ndarray:
    """Every lead of a record (samples, leads) with noise added at snr_db on the masked samples: lead i takes
    noise channel i (modulo the noise's channels, noise of shape (samples, channels)), each lead's signal
    size measured on its own R peaks as nst does."""
    noise = noise[:, None] if noise.ndim == 1 else noise
    out = np.empty(leads.shape, np.float64)
    for i in range(leads.shape[1]):
        out[:, i] = add_noise(leads[:, i], noise[:, i % noise.shape[1]], mask, snr_db, r_peaks, fs, offset)
    return out
