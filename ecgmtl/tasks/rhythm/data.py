"""The rhythm task's data: a CinC 2017-style folder read once into a cache (every recording resampled to the
model rate, band-passed, scaled by its R amplitude, with its R peaks), then cut into the windows the model
sees: `window` samples every `stride`, the last flush with the end, a shorter recording zero-padded at its end.
The same cut is made in training, validation and prediction (`window_plan`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.signal.preprocess import PreprocessConfig

CACHE_VERSION = 1


@dataclass(frozen=True)
class Recordings:
    """Every labelled recording of a folder at the model rate: signals concatenated (float32, R-amplitude
    units), offsets[i]:offsets[i+1] the i-th; peaks concatenated likewise (peak_offsets); labels (int64)."""

    names: tuple[str, ...]
    labels: np.ndarray
    signal: np.ndarray
    offsets: np.ndarray
    peaks: np.ndarray
    peak_offsets: np.ndarray
    fingerprint: str

    def __len__(self) -> int:
        return len(self.names)

    def x(self, i: int) -> np.ndarray:
        return self.signal[self.offsets[i] : self.offsets[i + 1]]

    def r_peaks(self, i: int) -> np.ndarray:
        return self.peaks[self.peak_offsets[i] : self.peak_offsets[i + 1]]


def prepare_lead(x_mv: np.ndarray, fs_in: float, pcfg: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """One lead in mV -> (the filtered lead at pcfg.fs divided by its R amplitude, its R peaks)."""
    from ecgmtl.signal.preprocess import detect_peaks, prepare_signal, r_amplitude

    x = prepare_signal(x_mv, fs_in, pcfg)
    peaks = detect_peaks(x, pcfg.fs)
    return (x / r_amplitude(x, peaks, pcfg.fs, pcfg)).astype(np.float32), peaks.astype(np.int64)


def window_plan(samples: int, window: int, stride: int) -> np.ndarray:
    """Starts of the windows cut from a recording: `window` samples every `stride`, the last flush with the
    end; one window at 0 (zero-padded) for a recording shorter than `window`."""
    from ecgmtl.signal.windows import window_starts

    return np.asarray(window_starts(samples, window, stride) if samples >= window else [0], dtype=np.int64)


def cut(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """(windows, length) float32 from x at starts, zero-padded past its end."""
    padded = np.pad(x, (0, max(0, int(starts.max()) + length - len(x))))
    return padded[starts[:, None] + np.arange(length)[None, :]].astype(np.float32)


def load_recordings(folder: Path, pcfg: PreprocessConfig, cache: Path | None, reference: str = "REFERENCE.csv"):
    """Every labelled recording of `folder` (see ecgmtl.data.cinc2017.index), prepared; cached under `cache`
    by the folder's labels, file sizes and the preprocessing."""
    from ecgmtl.data.cache import read_shard, write_shard
    from ecgmtl.data.cinc2017 import index, read_signal

    idx = index(Path(folder), reference)
    h = hashlib.sha256(f"rhythm-v{CACHE_VERSION}|{pcfg}".encode())
    for n, p, y in zip(idx.names, idx.headers, idx.labels):
        h.update(f"{n}:{y}:{p.stat().st_size}:{_data_size(p)};".encode())
    key = h.hexdigest()[:16]
    names = ("signal", "offsets", "peaks", "peak_offsets")
    shard = cache / f"rhythm-{key}" if cache is not None else None
    arrays = read_shard(shard, names) if shard is not None else None
    if arrays is None:
        xs, ps = [], []
        for p in idx.headers:
            x, fs = read_signal(p)
            lead, peaks = prepare_lead(x, fs, pcfg)
            xs.append(lead)
            ps.append(peaks)
        arrays = {
            "signal": np.concatenate(xs),
            "offsets": np.cumsum([0] + [len(x) for x in xs]).astype(np.int64),
            "peaks": np.concatenate(ps) if ps else np.zeros(0, np.int64),
            "peak_offsets": np.cumsum([0] + [len(p) for p in ps]).astype(np.int64),
        }
        if shard is not None:
            write_shard(shard, arrays)
    return Recordings(idx.names, idx.labels, fingerprint=key, **arrays)


def _data_size(header: Path) -> int:
    for ext in (".mat", ".dat"):
        if header.with_suffix(ext).is_file():
            return header.with_suffix(ext).stat().st_size
    return -1


def windows_of(rec: Recordings, items: np.ndarray, window: int, stride: int, fs: float):
    """The windows of recordings `items`: (windows, 1, window) signal, their rhythm features, and the index
    into `items` of each window's recording."""
    from ecgmtl.tasks.rhythm.features import window_features

    xs, feats, owner = [], [], []
    for k, i in enumerate(items):
        x = rec.x(int(i))
        starts = window_plan(len(x), window, stride)
        xs.append(cut(x, starts, window))
        feats.append(window_features(rec.r_peaks(int(i)), starts, window, fs, len(x)))
        owner.append(np.full(len(starts), k, dtype=np.int64))
    return np.concatenate(xs)[:, None, :], np.concatenate(feats), np.concatenate(owner)
