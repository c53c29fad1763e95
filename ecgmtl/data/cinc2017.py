"""The PhysioNet/Computing in Cardiology Challenge 2017 (Clifford et al., CinC 44, 2017; ODC-By 1.0): single-lead
AliveCor recordings of 9 to 61 s at 300 Hz, each labelled N (normal sinus rhythm), A (atrial fibrillation),
O (another rhythm) or ~ (too noisy to classify).

Any folder with a `REFERENCE.csv` (record,label) works: the records are the `.hea` files under it, at any depth
(the PhysioNet download keeps them in training/A00 ... A08), and a labelled record without its files is left out
and counted. Scored as the challenge scores: F1 of N, A and O, and their mean (the challenge's F1).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.errors import RecordError

CLASSES = ("N", "A", "O", "~")
CHALLENGE_CLASSES = ("N", "A", "O")  # the challenge's F1 is the mean of these three


@dataclass(frozen=True)
class CincIndex:
    """The labelled records found: name -> header path, and each record's class index into CLASSES."""

    names: tuple[str, ...]
    headers: tuple[Path, ...]
    labels: np.ndarray  # int64 (records,)
    missing: int  # labelled in REFERENCE.csv, no header found


def read_reference(folder: Path, file: str = "REFERENCE.csv") -> dict[str, str]:
    """record -> label, from folder/file; one clear line for a missing file or an unknown label."""
    path = Path(folder) / file
    if not path.is_file():
        raise RecordError(f"no {file} in {folder}: is it a CinC 2017 folder? ('ecgmtl data download cinc2017')")
    out: dict[str, str] = {}
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f), 1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2 or row[1].strip() not in CLASSES:
                raise RecordError(f"{path}, line {i}: expected 'record,label' with a label in {' '.join(CLASSES)}")
            out[row[0].strip()] = row[1].strip()
    if not out:
        raise RecordError(f"{path} lists no record")
    return out


def index(folder: Path, reference: str = "REFERENCE.csv") -> CincIndex:
    """The labelled records of `folder` that have a header, in REFERENCE.csv's order."""
    labels = read_reference(folder, reference)
    headers = {p.stem: p for p in sorted(Path(folder).rglob("*.hea"))}
    kept = [n for n in labels if n in headers]
    if not kept:
        raise RecordError(f"none of the {len(labels)} records in {folder}/{reference} has a .hea file there")
    return CincIndex(
        tuple(kept),
        tuple(headers[n] for n in kept),
        np.array([CLASSES.index(labels[n]) for n in kept], dtype=np.int64),
        len(labels) - len(kept),
    )


def read_signal(header: Path) -> tuple[np.ndarray, float]:
    """One recording: float32 (samples,) in mV, and its rate (Hz)."""
    import wfdb

    try:
        rec = wfdb.rdrecord(str(Path(header).with_suffix("")))
    except Exception as e:  # wfdb raises many kinds for a broken file
        raise RecordError(f"cannot read {header}: {type(e).__name__}") from None
    if rec.p_signal is None or rec.p_signal.shape[1] < 1:
        raise RecordError(f"{header} holds no signal")
    return np.nan_to_num(rec.p_signal[:, 0]).astype(np.float32), float(rec.fs)


def stratified_folds(labels: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number 0..k-1 of each record: k folds with the classes in the same proportions."""
    from sklearn.model_selection import StratifiedKFold

    fold = np.empty(len(labels), dtype=np.int64)
    for f, (_, test) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(labels, labels)):
        fold[test] = f
    return fold


def challenge_f1(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Per-class F1 over CLASSES and the challenge's score, the mean F1 of N, A and O."""
    from sklearn.metrics import f1_score

    per = f1_score(y_true, y_pred, labels=list(range(len(CLASSES))), average=None, zero_division=0)
    f1 = {c: float(v) for c, v in zip(CLASSES, per)}
    return {"per_class_f1": f1, "challenge_f1": float(np.mean([f1[c] for c in CHALLENGE_CLASSES]))}
