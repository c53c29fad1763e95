"""The restoration model's multi-task question, 3 paired seeds: does the shared S/V segment head change the
denoising figures, and does the denoising objective change the S/V figures, against the same model (the
recipe of configs/mitdb-denoise.yaml, same data, corruption and budget) trained on one task alone?

    multi-task            the shipped recipe: both losses on the shared U-Net
    restoration alone     weighting.weights.classification=0 (the segment head's loss does not reach the encoder)
    classification alone  weighting.weights.reconstruction=0

Every run is measured at its last epoch (last.pt), since the recipe's checkpoint choice (SNR gain on DS1
validation) means nothing for a run without the restoration loss. Denoising: the DS2 grid of
data_scripts/denoise_grid.py (NSTDB second half), SNR improvement per noise at 12, 6 and 0 dB, of the run
exported as it would ship (`ecgmtl export` chooses its gate on DS1's validation records) and of the network
alone (no gate). S/V: macro AUC of 'the segment holds an S / a V beat' over DS2 segments (2048 samples, both leads),
clean and with NSTDB ma/bw/both from the second half at 0-12 dB (one fixed draw). Paired: the difference to
the single-task run of the same seed.

    python data_scripts/denoise_mtl.py --out runs/denoise-mtl [--seeds 0,1,2] [--epochs N] [--workers 2] [--readme]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mitdb-denoise.yaml"
VARIANTS = {
    "multi-task": [],
    "restoration alone": ["weighting.weights.classification=0"],
    "classification alone": ["weighting.weights.reconstruction=0"],
}
GAIN_AT = (("ma", 12.0), ("ma", 6.0), ("ma", 0.0), ("bw", 0.0), ("mixed", 0.0))


def slug(variant: str) -> str:
    return variant.replace(" ", "-")


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "cli.main", *map(str, args)]


def epochs_done(run: Path) -> int:
    log = run / "metrics.jsonl"
    return sum(1 for x in log.read_text().splitlines() if x.strip()) if log.is_file() else 0


def train(run: Path, variant: str, seed: int, epochs: int) -> None:
    if epochs_done(run) >= epochs:
        return
    if (run / "last.pt").is_file():
        cmd = cli("train", "--resume", run, "--no-progress")
    else:
        cmd = cli("train", "--config", CONFIG, "--out", run, "--seed", seed, "--no-progress")
        for o in [*VARIANTS[variant], "schedule.pretrain_epochs=0", f"schedule.joint_epochs={epochs}"]:
            cmd += ["--set", o]
    run.mkdir(parents=True, exist_ok=True)
    with open(run.parent / f"{run.name}.log", "a") as log:
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, check=True)


def class_segments(seed: int = 0):
    """DS2 segments (both leads) and their S/V labels: clean, and with second-half NSTDB noise at 0-12 dB."""
    import torch

    from ecgmtl.augment.corruption import Corruption, corrupt
    from ecgmtl.augment.noise import NoiseBank
    from ecgmtl.config import load_config
    from ecgmtl.data.mitdb import DS2
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.tasks.restore.data import load_segments
    from ecgmtl.tasks.restore.task import geometry

    cfg = load_config(CONFIG)
    root = data_root()
    window = geometry(cfg)
    seg = load_segments(database_dir(root, "mitdb"), list(DS2), cfg.preprocess, window, window)
    bank = NoiseBank(database_dir(root, "nstdb"), cfg.preprocess, half="second")
    x = torch.from_numpy(seg.x)[:, None, :] if seg.x.ndim == 2 else torch.from_numpy(seg.x)
    noisy = corrupt(x, bank, Corruption(1.0, (0.0, 12.0), 0.0), cfg.preprocess.fs, torch.Generator().manual_seed(seed))
    return x.numpy(), noisy.numpy(), np.asarray(seg.labels)


def measure(onnx: Path, segments) -> dict:
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.restore.engine import Gate
    from ecgmtl.tasks.restore.evaluate import evaluate_restoration
    from ecgmtl.tasks.restore.metrics import macro_auc

    model = OnnxModel(onnx, device="cpu")
    rows = evaluate_restoration(model, "DS2", gates={"raw": Gate(0.0)})["rows"]
    gain = {
        f"{method}:{n}@{s:g}": r["gain_db"]
        for r in rows
        for method in ("model", "raw")
        if r["method"] == method
        for n, s in GAIN_AT
        if r["noise"] == n and r["snr_db"] == s
    }
    clean, noisy, labels = segments
    auc = {}
    for name, x in (("clean", clean), ("noisy", noisy)):
        p = model.run(x.astype(np.float32), batch=256)[0]
        auc[name] = float(macro_auc(labels, p))
    return {"gain_db": gain, "auc": auc}


def summary(res: dict, seeds: list[int]) -> str:
    """Median [min, max] over seeds per variant, and the paired difference to the single-task run."""

    def cell(v):
        v = np.asarray(v, float)
        return f"{np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}]" if len(v) else "-"

    keys = {}
    for method, label in (("model", "with its gate"), ("raw", "network alone")):
        for n, snr in GAIN_AT:
            keys[f"SNR gain {n} {snr:g} dB, {label}"] = ("gain_db", f"{method}:{n}@{snr:g}")
    keys.update({"S/V AUC clean": ("auc", "clean"), "S/V AUC noisy": ("auc", "noisy")})

    def values(variant, key):
        group, k = keys[key]
        return [res[f"{variant}/{s}"][group][k] for s in seeds if f"{variant}/{s}" in res]

    lines = [
        "| figure (DS2) | multi-task | single-task | paired Δ (MT − single) | MT better in |",
        "|---|---|---|---|---|",
    ]
    for key in keys:
        single = "restoration alone" if key.startswith("SNR") else "classification alone"
        mt, st = values("multi-task", key), values(single, key)
        d = [a - b for a, b in zip(mt, st)]
        better = f"{sum(x > 0 for x in d)}/{len(d)}"
        lines.append(f"| {key} | {cell(mt)} | {cell(st)} ({single}) | {np.mean(d):+.3f} ± {np.std(d):.3f} | {better} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "denoise-mtl")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="joint epochs of every run (default: the recipe's)")
    ap.add_argument("--variants", default=None, help="comma-separated (default: all three; for parallel measuring)")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md (study:denoise-mtl)")
    args = ap.parse_args()
    from ecgmtl.config import load_config

    seeds = [int(s) for s in args.seeds.split(",")]
    epochs = args.epochs or load_config(CONFIG).schedule.joint_epochs  # the recipe has no pretraining epochs
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    jobs = [(v, s) for s in seeds for v in variants]
    run_of = {(v, s): args.out / slug(v) / f"seed{s}" for v, s in jobs}
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(lambda j: train(run_of[j], j[0], j[1], epochs), jobs))
    segments = class_segments()
    part = "-".join(map(str, seeds)) + ("" if args.variants is None else "-" + "-".join(map(slug, variants)))
    done = args.out / f"measured-{part}.json"  # one file per part: parts can be measured in parallel
    res = {}
    for other in sorted(args.out.glob("measured-*.json")):  # figures measured before, by any seed set
        res.update(json.loads(other.read_text()))
    for v, s in jobs:
        key, run = f"{v}/{s}", run_of[(v, s)]
        if key in res:
            continue
        onnx = run / "last.onnx"
        if not onnx.is_file():
            subprocess.run(cli("export", run / "last.pt", "--out", onnx), cwd=ROOT, check=True, capture_output=True)
        res[key] = measure(onnx, segments)
        done.write_text(json.dumps(res, indent=1))
        print(key, res[key], file=sys.stderr)
    for other in sorted(args.out.glob("measured-*.json")):  # the other seed sets' figures
        res = {**json.loads(other.read_text()), **res}
    seeds = sorted({int(k.split("/")[1]) for k in res})
    table = summary(res, seeds)
    print(table)
    if args.readme:
        from ecgmtl.readme import update_readme

        out = "" if args.out == ROOT / "runs" / "denoise-mtl" else f" --out {os.path.relpath(args.out, ROOT)}"
        cmd = f"python data_scripts/denoise_mtl.py{out} --epochs {epochs} --readme"
        body = f"`{cmd}` ({len(seeds)} paired seeds, {epochs} epochs each):\n\n{table}"
        update_readme(ROOT / "README.md", "study:denoise-mtl", body)
        print("README.md updated")


if __name__ == "__main__":
    main()
