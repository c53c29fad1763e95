"""The restoration task's data: continuous segments of every lead of MIT-BIH records, filtered as at
prediction (resampled to the model rate, band-passed 0.5-40 Hz: the clean target), each labelled with
whether it holds an S or a V beat (the classification head's multi-label target).

The corruption of a training batch is ecgmtl.augment.corruption.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.signal.preprocess import PreprocessConfig, prepare_signal
from ecgmtl.tasks.restore.task import CLASSES


@dataclass
class Segments:
    """x: (n, 1, length) float32, filtered lead in mV; labels: (n, 2) float32 multi-hot (S, V);
    record: (n,) the index in `names` of the record each segment comes from."""

    x: np.ndarray
    labels: np.ndarray
    record: np.ndarray
    names: list[str]


def record_leads(db: Path, name: str, pcfg: PreprocessConfig) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Every lead of a record filtered at the model rate, with its beat annotations at the model rate: (leads,
    R-peak samples, AAMI class letters)."""
    from ecgmtl.data.mitdb import AAMI
    from ecgmtl.io.record import read_record

    rec = read_record(db / name)
    leads = [prepare_signal(rec.signal[:, j], rec.fs, pcfg) for j in range(rec.signal.shape[1])]
    ann = rec.annotation
    keep = np.array([s in AAMI for s in ann.symbol], dtype=bool)
    samples = np.round(ann.sample[keep] * pcfg.fs / rec.fs).astype(np.int64)
    return leads, samples, np.array([AAMI[s] for s in ann.symbol[keep]])


def load_segments(db: Path, records: list[str], pcfg: PreprocessConfig, length: int, stride: int) -> Segments:
    """Segments of `length` samples every `stride` samples, from every lead of every record."""
    xs, labels, owner = [], [], []
    for i, name in enumerate(records):
        leads, samples, cls = record_leads(db, name, pcfg)
        n = min(len(x) for x in leads)
        starts = np.arange(0, n - length + 1, stride)
        for x in leads:
            xs.append(x[starts[:, None] + np.arange(length)[None, :]])
            for s in starts:
                inside = cls[(samples >= s) & (samples < s + length)]
                labels.append([float((inside == c).any()) for c in CLASSES])
            owner += [i] * len(starts)
    return Segments(
        np.concatenate(xs)[:, None, :].astype(np.float32),
        np.asarray(labels, np.float32),
        np.asarray(owner, np.int64),
        list(records),
    )
