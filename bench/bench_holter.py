"""The Holter part of the benchmark: two-lead records of 6, 24 and 48 hours made by joining MIT-BIH records
(built once, kept in the cache folder), and `ecgmtl holter` on each as a user runs it: wall clock and peak
resident memory of the whole process (from os.wait4, that process's own). The record is processed in chunks,
so the peak should not grow with the length."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import ROOT

HOURS = (6.0, 24.0, 48.0)


def joined_record(db: Path, folder: Path, hours: float = 24.0) -> Path:
    """`folder/joined<hours>h.{hea,dat}`: the MIT-BIH records whose first lead is MLII (the second lead as it is),
    in order and repeated, cut to `hours`; 360 Hz, 200 adu/mV, format 16. Built once."""
    import numpy as np
    import wfdb

    name = f"joined{hours:g}h"
    base = folder / name
    if base.with_suffix(".hea").is_file():
        return base
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(p.stem for p in db.glob("*.hea"))
    parts, n, need = [], 0, int(hours * 3600 * 360)
    while n < need:
        for name in names:
            rec = wfdb.rdrecord(str(db / name))
            if rec.sig_name[0] != "MLII":
                continue
            parts.append(rec.d_signal if rec.d_signal is not None else rec.adc())
            n += len(parts[-1])
            if n >= need:
                break
    d = np.concatenate([(p - 1024).astype(np.int16) for p in parts])[:need]  # MIT-BIH's baseline is 1024 adu
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        wfdb.wrsamp(
            name,
            fs=360,
            units=["mV", "mV"],
            sig_name=["MLII", "V1"],
            d_signal=d,
            fmt=["16", "16"],
            adc_gain=[200.0, 200.0],
            baseline=[0, 0],
            write_dir=tmp,
        )
        for ext in (".hea", ".dat"):
            os.replace(Path(tmp) / f"{name}{ext}", base.with_suffix(ext))
    return base


def part_holter(args) -> dict:
    db = Path(args.record).parent
    cache = Path(os.environ.get("ECGMTL_CACHE", Path.home() / ".cache" / "ecgmtl")) / "bench"
    runs = {}
    for hours in HOURS:
        t0 = time.perf_counter()
        rec = joined_record(db, cache, hours)
        build = time.perf_counter() - t0
        with (
            tempfile.TemporaryDirectory() as out,
            tempfile.TemporaryFile("w+") as so,
            tempfile.TemporaryFile("w+") as se,
        ):
            cmd = [sys.executable, "-m", "ecgmtl", "holter", str(rec), "--out", out, "--model", str(args.model)]
            t0 = time.perf_counter()
            proc = subprocess.Popen([*cmd, "--no-progress"], stdout=so, stderr=se, text=True, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            so.seek(0)
            se.seek(0)
            stdout, stderr = so.read(), se.read()
        if proc.returncode != 0:
            raise SystemExit(stderr[-500:])
        beats = next((ln for ln in stdout.splitlines() if ln.startswith("beats:")), "")
        runs[f"{hours:g}"] = {"wall_s": wall, "peak_mb": usage.ru_maxrss / 1024, "build_s": build, "beats_line": beats}
    return {"hours": 24.0, **runs["24"], "runs": runs}
