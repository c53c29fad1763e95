"""Where the PhysioNet data and the dataset cache live."""

from __future__ import annotations

import os
from pathlib import Path

from ecgmtl.errors import RecordError

ENV_DATA = "ECGMTL_DATA"
ENV_CACHE = "ECGMTL_CACHE"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder holding mitdb/, ptbxl/, nstdb/: --data-dir, else $ECGMTL_DATA, else ../shared/physionet."""
    if explicit:
        root = Path(explicit)
        if not root.is_dir():
            raise RecordError(f"data folder {root} does not exist; run 'ecgmtl data download mitdb --data-dir {root}'")
        return root
    if os.environ.get(ENV_DATA):
        return data_root(os.environ[ENV_DATA])
    for cand in (
        Path.cwd() / ".." / "shared" / "physionet",
        Path(__file__).resolve().parents[3] / "shared" / "physionet",
    ):
        if cand.is_dir():
            return cand.resolve()
    raise RecordError(
        "no data folder: pass --data-dir, set ECGMTL_DATA, or run 'ecgmtl data download mitdb --data-dir DIR'"
    )


def database_dir(root: Path, name: str) -> Path:
    """root/name, or root itself when the user pointed at the database folder directly."""
    for cand in (root / name, root):
        if (cand / "RECORDS").is_file() or any(cand.glob("*.hea")):
            return cand
    raise RecordError(f"no {name} records in {root}; run 'ecgmtl data download {name} --data-dir {root}'")


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Dataset cache: --cache-dir, else $ECGMTL_CACHE, else $XDG_CACHE_HOME/ecgmtl (~/.cache/ecgmtl)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ecgmtl"
