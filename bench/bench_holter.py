"""The Holter part of the benchmark: two-lead records of 6, 24 and 48 hours made by joining MIT-BIH records
(built once, kept in the cache folder), and `ecgmtl holter` on each as a user runs it: wall clock and peak
resident memory of the whole process (its own, see LAUNCHER). The record is processed in chunks,
so the peak should not grow with the length. The report includes the rhythm model's AF part (a second thread);
the 24-h record is also run with --no-rhythm, side by side, for what the AF part costs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import ROOT

HOURS = (6.0, 24.0, 48.0)
# Runs the command and prints its peak resident memory (kB) last on stderr: a small process between this one and
# the command, because Linux keeps a process's peak across fork and exec, so a command forked from here (after
# building a 48-h record) would report this process's peak, not its own.
LAUNCHER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r)"
)


def joined_record(db: Path, folder: Path, hours: float = 24.0) -> Path:
    """`folder/joined<hours>h.{hea,dat}`: the MIT-BIH records whose first lead is MLII (the second lead as it is),
    in order and repeated, cut to `hours`; 360 Hz, 200 adu/mV, format 16. Built once."""
    import numpy as np
    import wfdb

    joined = f"joined{hours:g}h"
    base = folder / joined
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
            joined,
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
            os.replace(Path(tmp) / f"{joined}{ext}", base.with_suffix(ext))
    return base


def part_holter(args) -> dict:
    db = Path(args.record).parent
    cache = Path(os.environ.get("ECGMTL_CACHE", Path.home() / ".cache" / "ecgmtl")) / "bench"
    runs = {}
    for hours, extra in [(h, []) for h in HOURS] + [(24.0, ["--no-rhythm"])]:
        t0 = time.perf_counter()
        rec = joined_record(db, cache, hours)
        build = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "ecgmtl", "holter", str(rec), "--out", out, "--model", str(args.model)]
            t0 = time.perf_counter()
            launch = [sys.executable, "-c", LAUNCHER, *cmd, "--no-progress", *extra]
            res = subprocess.run(launch, capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(res.stderr[-500:])
        peak_kb = float(res.stderr.strip().splitlines()[-1])
        lines = res.stdout.splitlines()
        beats = next((ln for ln in lines if ln.startswith("beats:")), "")
        af = next((ln for ln in lines if ln.startswith("atrial fibrillation:")), "")
        key = f"{hours:g}" + ("-no-rhythm" if extra else "")
        runs[key] = {"wall_s": wall, "peak_mb": peak_kb / 1024, "build_s": build, "beats_line": beats, "af_line": af}
    return {"hours": 24.0, **runs["24"], "runs": runs}


DENOISE_MODEL = ROOT / "models" / "mitdb-denoise.onnx"


def part_denoise(args) -> dict:
    """`ecgmtl denoise` of the 24-h joined record as a user runs it (both leads restored and written):
    wall clock and peak resident memory of the whole process."""
    db = Path(args.record).parent
    cache = Path(os.environ.get("ECGMTL_CACHE", Path.home() / ".cache" / "ecgmtl")) / "bench"
    rec = joined_record(db, cache, 24.0)
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "ecgmtl", "denoise", str(rec), "--out", out, "--model", str(DENOISE_MODEL)]
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(out).iterdir())
    if res.returncode != 0:
        raise SystemExit(res.stderr[-500:])
    return {"hours": 24.0, "wall_s": wall, "peak_mb": float(res.stderr.strip().splitlines()[-1]) / 1024, "bytes": size}
