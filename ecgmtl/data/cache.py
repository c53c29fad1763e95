"""The dataset cache's one format: a shard is a folder of .npy arrays and `sha256.json`, the hash of each,
written last. A shard is built in a temporary folder beside its place and renamed; one whose files do not
match their hashes (truncated, altered, half-written) is not trusted and is rebuilt by its caller."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

HASHES = "sha256.json"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def intact(folder: Path, names: tuple[str, ...]) -> bool:
    """Whether the shard holds exactly `names`, each matching the hash recorded when it was written."""
    try:
        recorded = json.loads((folder / HASHES).read_text())
    except (OSError, ValueError):
        return False
    return set(recorded) == set(names) and all(sha256(folder / f"{k}.npy") == v for k, v in recorded.items())


def read_shard(folder: Path, names: tuple[str, ...], mapped: tuple[str, ...] = ()) -> dict[str, np.ndarray] | None:
    """The shard's arrays (those in `mapped` memory-mapped), or None where it is missing or damaged."""
    if not intact(folder, names):
        return None
    try:
        return {
            k: np.load(folder / f"{k}.npy", mmap_mode="r" if k in mapped else None, allow_pickle=False) for k in names
        }
    except (OSError, ValueError):
        return None


def write_shard(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Written in a temporary folder beside `folder` and renamed. Where another process (another torchrun rank
    on a cold cache, say) has put an intact copy there meanwhile, that copy is kept."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    names = tuple(arrays)
    try:
        for k, a in arrays.items():
            np.save(tmp / f"{k}.npy", np.ascontiguousarray(a), allow_pickle=False)
        (tmp / HASHES).write_text(json.dumps({k: sha256(tmp / f"{k}.npy") for k in names}))
        if folder.exists():
            if intact(folder, names):
                return
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process put its copy there first
            if not intact(folder, names):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
