"""PTB-XL (Wagner et al. 2020) as the benchmark uses it (Strodthoff et al. 2020): 12-lead 10-s records,
superdiagnostic multi-label targets, strat_fold 1-8 train, 9 validation, 10 test.

Any PTB-XL folder works, the full 21,799-record release or a part of it: records listed in
ptbxl_database.csv whose signal files are missing are left out (and counted). Targets follow the benchmark's
code: every scp_code of a record that scp_statements.csv marks diagnostic maps to its diagnostic_class,
whatever its likelihood; records with none are left out.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.data.cache import read_shard, write_shard
from ecgmtl.errors import RecordError
from ecgmtl.signal.windows import sliding_windows  # noqa: F401  (the benchmark's test windows)

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
FOLDS = {"train": tuple(range(1, 9)), "val": (9,), "test": (10,)}
RATES = {100: "filename_lr", 500: "filename_hr"}
CACHE_VERSION = 1
SPLIT_ARRAYS = ("signals", "targets", "ecg_id", "fold")  # PtbxlSet's fields, in order


@dataclass(frozen=True)
class PtbxlRecord:
    ecg_id: int
    fold: int
    path: str  # relative to the PTB-XL folder, without extension
    labels: tuple[str, ...]  # superclasses


@dataclass(frozen=True)
class PtbxlSet:
    """signals: float32 (records, 12, samples) in mV; targets: float32 (records, 5) multi-hot over
    SUPERCLASSES; ecg_id, fold: int64 (records,)."""

    signals: np.ndarray
    targets: np.ndarray
    ecg_id: np.ndarray
    fold: np.ndarray
    fs: int

    def __len__(self) -> int:
        return int(self.targets.shape[0])


def diagnostic_classes(root: Path) -> dict[str, str]:
    """scp_code -> diagnostic superclass, for the statements scp_statements.csv marks diagnostic."""
    path = Path(root) / "scp_statements.csv"
    if not path.is_file():
        raise RecordError(f"no scp_statements.csv in {root}: is it a PTB-XL folder?")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {r[""]: r["diagnostic_class"] for r in rows if r.get("diagnostic") and float(r["diagnostic"]) == 1.0}


def read_table(root: Path, rate: int = 100) -> tuple[list[PtbxlRecord], dict[str, int]]:
    """The records of ptbxl_database.csv with signal files at `rate` Hz and at least one superclass, and the
    counts of those left out (no files here, no superclass)."""
    if rate not in RATES:
        raise RecordError(f"PTB-XL comes at 100 or 500 Hz, not {rate}")
    root = Path(root)
    table = root / "ptbxl_database.csv"
    if not table.is_file():
        raise RecordError(f"no ptbxl_database.csv in {root}: is it a PTB-XL folder?")
    classes = diagnostic_classes(root)
    out, missing, unlabelled = [], 0, 0
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            rel = row[RATES[rate]]
            if not (root / (rel + ".hea")).is_file():
                missing += 1
                continue
            codes = ast.literal_eval(row["scp_codes"])
            labels = tuple(c for c in SUPERCLASSES if c in {classes[k] for k in codes if k in classes})
            if not labels:
                unlabelled += 1
                continue
            out.append(PtbxlRecord(int(float(row["ecg_id"])), int(row["strat_fold"]), rel, labels))
    return out, {"no_signal_files": missing, "no_superclass": unlabelled}


def multi_hot(labels: tuple[str, ...]) -> np.ndarray:
    return np.array([c in labels for c in SUPERCLASSES], dtype=np.float32)


def load_ptbxl(root: Path, split: str = "train", rate: int = 100, cache: Path | None = None) -> PtbxlSet:
    """The records of a split ('train': folds 1-8, 'val': 9, 'test': 10), signals in mV with the leads in
    LEADS order, from the cache when the same records were read before (one shard per split, see
    ecgmtl.data.cache)."""
    if split not in FOLDS:
        raise RecordError(f"unknown PTB-XL split {split!r}; use train, val or test")
    records, _ = read_table(root, rate)
    records = [r for r in records if r.fold in FOLDS[split]]
    key = hashlib.sha256(json.dumps([CACHE_VERSION, rate, [(r.ecg_id, r.path, r.labels) for r in records]]).encode())
    folder = Path(cache) / f"ptbxl-{rate}-{split}-{key.hexdigest()[:16]}" if cache else None
    arrays = read_shard(folder, SPLIT_ARRAYS) if folder is not None else None
    if arrays is None:
        if not records:
            raise RecordError(f"no PTB-XL record of the {split} split with {rate} Hz signal files in {root}")
        arrays = {
            "signals": np.stack([_read(Path(root) / r.path, rate) for r in records]),
            "targets": np.stack([multi_hot(r.labels) for r in records]),
            "ecg_id": np.array([r.ecg_id for r in records], np.int64),
            "fold": np.array([r.fold for r in records], np.int64),
        }
        if folder is not None:
            write_shard(folder, arrays)
    return PtbxlSet(*(arrays[k] for k in SPLIT_ARRAYS), rate)


def _read(path: Path, rate: int) -> np.ndarray:
    from ecgmtl.io.record import read_record

    rec = read_record(path, annotations=False)
    if int(round(rec.fs)) != rate:
        raise RecordError(f"{path} is at {rec.fs:g} Hz, not {rate}")
    names = [n.upper() for n in rec.leads]
    try:
        order = [names.index(lead) for lead in LEADS]
    except ValueError:
        raise RecordError(f"{path} lacks one of the 12 standard leads (has {', '.join(rec.leads)})") from None
    x = rec.signal[:, order].T.astype(np.float32)
    n = 10 * rate
    if x.shape[1] < n:
        raise RecordError(f"{path} is shorter than 10 s")
    return np.nan_to_num(x[:, :n])


def random_crops(signals: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """One random crop of `length` samples per record: (records, leads, length)."""
    start = rng.integers(0, signals.shape[-1] - length + 1, size=len(signals))
    idx = start[:, None] + np.arange(length)[None, :]
    return np.take_along_axis(signals, idx[:, None, :].repeat(signals.shape[1], axis=1), axis=2)
