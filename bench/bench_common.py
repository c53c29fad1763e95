"""What the benchmark's parts share: the paths, timers, peak memory, and the models and trainer they time."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ecgmtl from this checkout, installed or not
RECORD = ROOT.parent / "shared" / "physionet" / "mitdb" / "100"
MODEL = ROOT / "models" / "mitdb-resnet1d.onnx"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _per_call(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


def _random_deployable(n: int):
    """The shipped model's graph (same architecture and wrapper) with random weights, and n random inputs."""
    import onnx
    import torch

    from ecgmtl.deploy.graph import Deployable
    from ecgmtl.models import ModelConfig, build_model

    meta = json.loads(onnx.load(str(MODEL)).metadata_props[0].value)
    model = build_model(
        ModelConfig(**meta["model"]), meta["inputs"]["x"][1], len(meta["rr_features"]), len(meta["classes"])
    )
    wrapper = Deployable(model.eval(), {**meta, "recon_bounds": [-10, 10]}).eval()
    _, c, w = meta["inputs"]["x"]
    return wrapper, torch.randn(n, c, w) * 0.3, torch.tensor(meta["rr_mean"]).repeat(n, 1)


def _trainer(device: str, *overrides: str):
    """The default model's trainer (configs/mitdb.yaml) on real MIT-BIH training beats; nothing is written."""
    from ecgmtl.config import load_config
    from ecgmtl.train.loop import Trainer

    cfg = load_config(ROOT / "configs" / "mitdb.yaml", [f"train.device={device}", "train.threads=0", *overrides])
    return Trainer(cfg, ROOT / "runs" / "bench-unused", progress=False)


def _train_rate(tr, steps: int, with_data: bool, warmup: int = 5) -> float:
    """Windows per second through the trainer's own joint-training step (forward, losses, backward, optimizer,
    finiteness checks), with each batch drawn and shifted from the training arrays (`with_data`) or one batch
    drawn once and reused (the step alone)."""
    import torch

    idx = tr._epoch_indices()
    bs = tr.cfg.train.batch_size

    def batch(part):  # indices and jitter to the device, then the windows, as an epoch does
        return tr._batch(*tr._on_device([(part, tr._shifts(len(part)))])[0])

    fixed = batch(idx[:bs])
    scales = {"classification": 1.0, "reconstruction": 0.5}

    def one(i: int) -> None:
        s = (i * bs) % (len(idx) - bs)
        tr._step(1, *(batch(idx[s : s + bs]) if with_data else fixed), scales)

    sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
    for i in range(warmup):
        one(i)
    sync()
    t0 = time.perf_counter()
    for i in range(steps):
        one(i)
    sync()
    return bs * steps / (time.perf_counter() - t0)


def predict_walls(args, device: str, runs: int = 3, extra: tuple[str, ...] = ()) -> tuple[list[float], str]:
    """`ecgmtl predict RECORD --json --device DEVICE [extra]` as a user runs it, `runs` times: the wall clocks of
    the whole processes, and the last one's JSON."""
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "ecgmtl", "predict", str(args.record), "--model", str(args.model), "--json"]
        out = subprocess.run([*cmd, "--device", device, *extra], capture_output=True, text=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
        assert out.returncode == 0, out.stderr[-500:]
    return walls, out.stdout
