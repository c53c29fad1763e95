"""Build (or rebuild) the MIT-BIH beat caches for DS1 and DS2 and print what it took.

    python data_scripts/build_mitdb_cache.py [--data-dir DIR] [--cache-dir DIR] [--config configs/mitdb.yaml]

Training and evaluation build these on first use; this script does it ahead of time and measures it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ecgmtl.config import load_config
from ecgmtl.data.mitdb import CLASSES, DS1, DS2, load_beats
from ecgmtl.data.paths import cache_dir, data_root, database_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--cache-dir", help="default: a fresh temporary folder, so the build is timed from scratch")
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "mitdb.yaml"))
    args = ap.parse_args()
    cfg = load_config(args.config)
    db = database_dir(data_root(args.data_dir), "mitdb")
    with tempfile.TemporaryDirectory() as tmp:
        cache = cache_dir(args.cache_dir) if args.cache_dir else Path(tmp)
        t0 = time.perf_counter()
        parts = {
            "DS1": load_beats(db, list(DS1), cfg.preprocess, cache, margin=cfg.data.jitter),
            "DS2": load_beats(db, list(DS2), cfg.preprocess, cache),
        }
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_beats(db, list(DS1), cfg.preprocess, cache, margin=cfg.data.jitter)
        load_beats(db, list(DS2), cfg.preprocess, cache)
        cached = time.perf_counter() - t0
    for name, ds in parts.items():
        counts = dict(zip(CLASSES, np.bincount(ds.labels, minlength=len(CLASSES)).tolist()))
        print(f"{name}: {len(ds)} beats {counts}, windows {ds.windows.shape}")
    print(f"built 44 records in {built:.1f} s; loaded again from the cache in {cached:.2f} s")


if __name__ == "__main__":
    main()
