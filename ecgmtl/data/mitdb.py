"""The MIT-BIH Arrhythmia Database as beat windows with AAMI EC57 labels (de Chazal inter-patient split)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ecgmtl.augment.splice import SPLICED, base_name, splice_s
from ecgmtl.data.cache import read_shard, write_shard
from ecgmtl.errors import RecordError
from ecgmtl.io.record import other_lead, read_record, select_lead
from ecgmtl.signal.preprocess import PreprocessConfig, extract_beats

CLASSES = ("N", "S", "V", "F", "Q")
AAMI = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
PACED = ("102", "104", "107", "217")
DS1 = ("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230").split()
DS2 = ("100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234").split()
SPLITS = {"DS1": DS1, "DS2": DS2}
CACHE_VERSION = 3  # bump when the way arrays are built changes


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

    def subset(self, records: list[str] | tuple[str, ...]) -> BeatDataset:
        m = np.isin(self.record, list(records))
        w = self.windows.select(list(records)) if isinstance(self.windows, ShardedArray) else self.windows[m]
        return BeatDataset(w, self.rr[m], self.labels[m], self.record[m], self.sample[m], self.margin)

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
            f = db / (base_name(r) + ext)
            h.update(str(f.stat().st_size if f.exists() else -1).encode())
    return h.hexdigest()[:16]


def _record_beats(db: Path, name: str, pcfg: PreprocessConfig, margin: int):
    """One record's beat windows, RR features, labels and samples; a name ending in SPLICED ('209~s') is the
    record's S stretches joined (augment/splice.py), its samples those of the spliced signal."""
    rec = read_record(db / base_name(name))
    if rec.annotation is None:
        raise RecordError(f"record {name} in {db} has no .atr annotations; MIT-BIH training needs them")
    keep = np.array([s in AAMI for s in rec.annotation.symbol], dtype=bool)
    samples = rec.annotation.sample[keep]
    labels = np.array([CLASSES.index(AAMI[s]) for s in rec.annotation.symbol[keep]], dtype=np.int64)
    x = select_lead(rec, pcfg.lead)
    x2 = other_lead(rec, pcfg.lead) if pcfg.other_lead else None
    if name.endswith(SPLICED):
        sig = x if x2 is None else np.stack([x, x2], axis=1)  # both leads cut at the same places
        sig, samples, labels = splice_s(sig, samples, labels, labels == CLASSES.index("S"))
        if not len(labels):
            raise RecordError(f"record {base_name(name)} has no S beats to splice")
        x, x2 = (sig, None) if x2 is None else (sig[:, 0], sig[:, 1])
    beats = extract_beats(x, rec.fs, pcfg, peaks_in=samples, margin=margin, other_mv=x2)
    return beats.windows, beats.rr, labels, samples


def class_counts(db: Path, records: list[str]) -> dict[str, dict[str, int]]:
    """The annotated N, S, V and F beats of each record (from its .atr alone)."""
    import wfdb

    out = {}
    for r in records:
        sym = [AAMI[s] for s in wfdb.rdann(str(db / r), "atr").symbol if s in AAMI]
        out[r] = {c: sym.count(c) for c in "NSVF"}
    return out


def load_beats(
    db: Path, records: list[str], pcfg: PreprocessConfig, cache: Path | None, margin: int = 0, mmap: bool = False
) -> BeatDataset:
    """Beat windows of the records. The cache holds one shard per record and preprocessing (a folder of .npy
    arrays with their SHA-256), built once and reused by any record list that contains the record.

    mmap: the windows stay memory-mapped shards (a ShardedArray: rows are read when indexed), so that a
    dataset larger than memory can be used; otherwise they are read into one array."""
    parts = [_record_shard(db, name, pcfg, cache, margin) for name in records]
    windows = ShardedArray([p["windows"] for p in parts], list(records))
    small = {k: np.concatenate([p[k] for p in parts]) for k in ("rr", "labels", "sample")}
    names = np.concatenate([np.full(p["labels"].shape, n) for p, n in zip(parts, records)])
    return BeatDataset(
        windows if mmap else np.asarray(windows), small["rr"], small["labels"], names, small["sample"], margin
    )


ARRAYS = ("windows", "rr", "labels", "sample")


def _record_shard(db: Path, name: str, pcfg: PreprocessConfig, cache: Path | None, margin: int) -> dict:
    """One record's arrays, from its cache shard when intact (windows memory-mapped), else built and stored."""
    if cache is None:
        return dict(zip(ARRAYS, _record_beats(db, name, pcfg, margin)))
    key = hashlib.sha256(
        json.dumps([CACHE_VERSION, data_fingerprint(db, [name]), name, asdict(pcfg), margin]).encode()
    ).hexdigest()[:20]
    folder = cache / f"mitdb-{name}-{key}"
    arrays = read_shard(folder, ARRAYS, mapped=("windows",))
    if arrays is None:
        write_shard(folder, dict(zip(ARRAYS, _record_beats(db, name, pcfg, margin))))
        # read back memory-mapped, so that building a large dataset holds one record at a time
        arrays = read_shard(folder, ARRAYS, mapped=("windows",))
    if arrays is None:
        raise RecordError(f"the dataset cache shard {folder} could not be written and read back")
    return arrays


class ShardedArray:
    """Several arrays with the same trailing shape (memory-mapped shards) seen as their concatenation along
    axis 0, without reading them: `len`, `shape`, `dtype`, `nbytes`; `a[rows]` with an integer or boolean
    array, a slice or an int reads just those rows; `a[..., i:j]` is a view of every shard; `np.asarray(a)`
    reads everything."""

    def __init__(self, parts: list[np.ndarray], names: list[str] | None = None) -> None:
        self.parts, self.names = parts, names
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        trailing = parts[0].shape[1:] if parts else ()
        self.shape = (int(self.offsets[-1]), *trailing)
        self.dtype = parts[0].dtype if parts else np.dtype(np.float32)
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.concatenate(self.parts) if self.parts else np.zeros(self.shape, self.dtype)
        return out.astype(dtype, copy=False) if dtype is not None else out

    def select(self, names: list[str]) -> ShardedArray:
        """The shards of these names, in their stored order (no reading)."""
        keep = [i for i, n in enumerate(self.names or []) if n in set(names)]
        return ShardedArray([self.parts[i] for i in keep], [self.names[i] for i in keep])

    def __getitem__(self, key):
        if isinstance(key, tuple) and key and key[0] is Ellipsis:
            return ShardedArray([p[key] for p in self.parts], self.names)
        if isinstance(key, slice):
            key = np.arange(*key.indices(len(self)))
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        scalar = idx.ndim == 0
        idx = np.atleast_1d(idx).astype(np.int64)
        idx = np.where(idx < 0, idx + len(self), idx)
        shard = np.searchsorted(self.offsets, idx, side="right") - 1
        out = np.empty((len(idx), *self.shape[1:]), self.dtype)
        for s in np.unique(shard):
            m = shard == s
            local = idx[m] - self.offsets[s]
            order = np.argsort(local, kind="stable")  # ascending reads from the file
            rows = np.empty((len(local), *self.shape[1:]), self.dtype)
            rows[order] = self.parts[s][local[order]]
            out[m] = rows
        return out[0] if scalar else out

    def min(self) -> float:
        return min(float(p.min()) for p in self.parts)

    def max(self) -> float:
        return max(float(p.max()) for p in self.parts)
