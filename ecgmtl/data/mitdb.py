"""The MIT-BIH Arrhythmia Database as beat windows with AAMI EC57 labels (de Chazal inter-patient split)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import RecordError
from ..preprocess import PreprocessConfig, extract_beats
from ..record import read_record, select_lead

CLASSES = ("N", "S", "V", "F", "Q")
AAMI = {**dict.fromkeys("NLRej", "N"), **dict.fromkeys("AaJS", "S"), **dict.fromkeys("VE", "V"), "F": "F",
        **dict.fromkeys("/fQ", "Q")}  # fmt: skip
PACED = ("102", "104", "107", "217")
DS1 = ("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230").split()
DS2 = ("100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234").split()
SPLITS = {"DS1": DS1, "DS2": DS2}
CACHE_VERSION = 2  # bump when the way arrays are built changes


@dataclass(frozen=True)
class BeatDataset:
    """Beats of several records. windows: float32 (beats, channels, window + 2 * margin); rr: (beats, features);
    labels: int64 (beats,) indices into CLASSES; record: (beats,) record names; sample: int64 (beats,) at 360 Hz."""

    windows: np.ndarray
    rr: np.ndarray
    labels: np.ndarray
    record: np.ndarray
    sample: np.ndarray
    margin: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, records: list[str] | tuple[str, ...]) -> "BeatDataset":
        m = np.isin(self.record, list(records))
        return BeatDataset(self.windows[m], self.rr[m], self.labels[m], self.record[m], self.sample[m], self.margin)

    def centered(self) -> np.ndarray:
        """Windows without the margin: (beats, channels, window)."""
        m = self.margin
        return self.windows[..., m : self.windows.shape[-1] - m] if m else self.windows


def resolve_records(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """'DS1', 'DS2', a comma-separated string or a list of record names and split names, expanded in order
    without repeats."""
    items = [s.strip() for s in spec.split(",") if s.strip()] if isinstance(spec, str) else [str(r) for r in spec]
    out: list[str] = []
    for item in items:
        if item.upper() in SPLITS:
            names = SPLITS[item.upper()]
        elif item.upper().startswith("DS"):
            raise RecordError(f"unknown split {item!r}; use DS1, DS2 or record names")
        else:
            names = [item]
        out += [n for n in names if n not in out]
    return out


def data_fingerprint(db: Path, records: list[str]) -> str:
    """A hash of the record list and the sizes of their files: what a model was trained on."""
    h = hashlib.sha256()
    for r in sorted(records):
        h.update(r.encode())
        for ext in (".hea", ".dat", ".atr"):
            f = db / (r + ext)
            h.update(str(f.stat().st_size if f.exists() else -1).encode())
    return h.hexdigest()[:16]


def _record_beats(db: Path, name: str, pcfg: PreprocessConfig, margin: int):
    rec = read_record(db / name)
    if rec.annotation is None:
        raise RecordError(f"record {name} in {db} has no .atr annotations; MIT-BIH training needs them")
    keep = np.array([s in AAMI for s in rec.annotation.symbol], dtype=bool)
    samples = rec.annotation.sample[keep]
    labels = np.array([CLASSES.index(AAMI[s]) for s in rec.annotation.symbol[keep]], dtype=np.int64)
    beats = extract_beats(select_lead(rec, pcfg.lead), rec.fs, pcfg, peaks_in=samples, margin=margin)
    return beats.windows, beats.rr, labels, samples


def load_beats(
    db: Path, records: list[str], pcfg: PreprocessConfig, cache: Path | None, margin: int = 0
) -> BeatDataset:
    """Beat windows of the records, from the cache when the same records and preprocessing were built before."""
    key = hashlib.sha256(
        json.dumps([CACHE_VERSION, data_fingerprint(db, records), sorted(records), asdict(pcfg), margin]).encode()
    ).hexdigest()[:20]
    path = cache / f"mitdb-{key}.npz" if cache else None
    if path is not None and path.is_file() and _intact(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                return BeatDataset(z["windows"], z["rr"], z["labels"], z["record"], z["sample"], margin)
        except Exception:  # zipfile.BadZipFile, OSError, KeyError...: a damaged cache file is rebuilt below
            pass
    parts = []
    for name in records:
        w, rr, y, s = _record_beats(db, name, pcfg, margin)
        parts.append((w, rr, y, np.full(y.shape, name), s))
    ds = BeatDataset(*(np.concatenate(p) for p in zip(*parts)), margin=margin)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, windows=ds.windows, rr=ds.rr, labels=ds.labels, record=ds.record, sample=ds.sample)
        with atomic_path(_hash_file(path)) as tmp:  # written last: a cache without it is not trusted
            tmp.write_text(_sha256(path))
    return ds


def _hash_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _intact(path: Path) -> bool:
    """The cache file matches the hash recorded when it was written (truncated or altered files do not)."""
    rec = _hash_file(path)
    return rec.is_file() and rec.read_text().strip() == _sha256(path)
