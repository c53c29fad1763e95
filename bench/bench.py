"""ecgmtl benchmark: prediction speed, ONNX Runtime against torch eager, training throughput, peak memory.

    python bench/bench.py                    # prints the table; --json for the figures; --readme README.md
    python bench/bench.py --record ../shared/physionet/mitdb/100

Every figure is measured in this run, each part in its own subprocess (so its peak resident memory is its
own), side by side on the same machine:
- `ecgmtl predict RECORD --json` as users run it: whole process, command start to JSON written;
- the same prediction in-process, split into import, reading, preprocessing, beat detection, the model,
  quality checks and writing the JSON;
- the ONNX model alone in onnxruntime (beats per second at batch 4096) and the same model in torch eager
  at batch 1 and 256;
- training throughput (beat windows per second) of the default model for 20 steps of batch 256.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT.parent / "shared" / "physionet" / "mitdb" / "100"
MODEL = ROOT / "models" / "mitdb-resnet1d.onnx"


def _child(part: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--record", str(args.record), "--model", str(args.model)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"bench part {part} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def part_stages(args) -> dict:
    t0 = time.perf_counter()
    from ecgmtl.predict import predict_record
    from ecgmtl.runtime import OnnxModel

    t_import = time.perf_counter() - t0
    m = OnnxModel(args.model, device="cpu")
    t_load = time.perf_counter() - t0 - t_import
    timings: dict = {}
    res = predict_record(m, args.record, timings=timings)
    t1 = time.perf_counter()
    text = json.dumps(res)
    with open(os.devnull, "w") as f:
        f.write(text)
    t_write = time.perf_counter() - t1
    return {"import_s": t_import, "model_load_s": t_load, **{f"{k}_s": v for k, v in timings.items()},
            "json_s": t_write, "beats": res["n_beats"], "peak_mb": _peak_mb()}  # fmt: skip


def part_onnx(args) -> dict:
    import numpy as np

    from ecgmtl.runtime import OnnxModel

    m = OnnxModel(args.model, device="cpu")
    _, c, w = m.meta["inputs"]["x"]
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (16384, c, w)).astype(np.float32)
    rr = np.tile(np.asarray(m.meta["rr_mean"], np.float32), (len(x), 1))
    m.run(x[:4096], rr[:4096])
    best = min(_timed(lambda: m.run(x, rr, batch=4096)) for _ in range(3))
    one = _per_call(lambda i: m.session.run(None, {"x": x[i : i + 1], "rr": rr[i : i + 1]}), 300)
    b256 = _per_call(lambda i: m.session.run(None, {"x": x[:256], "rr": rr[:256]}), 30)
    return {"beats_per_s_batch4096": len(x) / best, "batch1_ms": 1000 * one, "batch256_ms": 1000 * b256,
            "threads": os.cpu_count(), "peak_mb": _peak_mb()}  # fmt: skip


def part_torch(args) -> dict:
    import numpy as np
    import onnx
    import torch

    from ecgmtl.export import Deployable

    meta = json.loads(onnx.load(str(args.model)).metadata_props[0].value)
    from ecgmtl.models import ModelConfig, build_model

    model = build_model(ModelConfig(**meta["model"]), meta["inputs"]["x"][1], len(meta["rr_features"]), len(meta["classes"]))
    wrapper = Deployable(model.eval(), {**meta, "recon_bounds": [-10, 10]}).eval()  # same graph, random weights
    _, c, w = meta["inputs"]["x"]
    x = torch.randn(256, c, w) * 0.3
    rr = torch.tensor(meta["rr_mean"]).repeat(256, 1)
    with torch.inference_mode():
        wrapper(x, rr)
        one = _per_call(lambda i: wrapper(x[i % 256 : i % 256 + 1], rr[:1]), 300)
        b256 = _per_call(lambda i: wrapper(x, rr), 30)
    return {"batch1_ms": 1000 * one, "batch256_ms": 1000 * b256, "threads": torch.get_num_threads(), "peak_mb": _peak_mb()}


def part_train(args) -> dict:
    import torch
    import torch.nn.functional as F

    from ecgmtl.models import ModelConfig, build_model

    model = build_model(ModelConfig(), 1, 7, 5)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, rr, y = torch.randn(256, 1, 128), torch.randn(256, 7), torch.randint(0, 5, (256,))

    def step(i: int) -> None:
        out = model(x, rr)
        loss = F.cross_entropy(out["logits"], y) + F.mse_loss(out["reconstruction"], x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(0)
    per = _per_call(step, 20)
    return {"windows_per_s": 256 / per, "threads": torch.get_num_threads(), "peak_mb": _peak_mb()}


def part_cli(args) -> dict:
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "cli.main", "predict", str(args.record), "--model", str(args.model),
                              "--json", "--device", "cpu"], capture_output=True, cwd=ROOT)  # fmt: skip
        walls.append(time.perf_counter() - t0)
        assert out.returncode == 0, out.stderr[-500:]
    return {"wall_s_min": min(walls), "wall_s_median": statistics.median(walls), "runs": len(walls)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _per_call(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


PARTS = {"stages": part_stages, "onnx": part_onnx, "torch": part_torch, "train": part_train, "cli": part_cli}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"


def table(r: dict) -> str:
    s, o, t, tr, c = r["stages"], r["onnx"], r["torch"], r["train"], r["cli"]
    stage_sum = sum(v for k, v in s.items() if k.endswith("_s"))
    rows = [
        "| what | figure |", "|---|---:|",
        f"| `ecgmtl predict` 30-min record, whole process (min of {c['runs']}) | {c['wall_s_min']:.2f} s |",
        f"| of which import / load model | {s['import_s']:.2f} / {s['model_load_s']:.2f} s |",
        f"| read / preprocess / detect beats | {s['read_s']:.2f} / {s['preprocess_s']:.2f} / {s['detect_s']:.2f} s |",
        f"| model ({s['beats']} beats) / quality + output / JSON | {s['model_s']:.3f} / {s['quality and output_s']:.3f} / {s['json_s']:.3f} s |",
        f"| model share of the in-process time | {100 * s['model_s'] / stage_sum:.1f}% |",
        f"| ONNX model alone, batch 4096 | {o['beats_per_s_batch4096']:,.0f} beats/s |",
        f"| ONNX Runtime vs torch eager, batch 1 | {o['batch1_ms']:.3f} vs {t['batch1_ms']:.3f} ms ({t['batch1_ms'] / o['batch1_ms']:.1f}x) |",
        f"| ONNX Runtime vs torch eager, batch 256 | {o['batch256_ms']:.2f} vs {t['batch256_ms']:.2f} ms ({t['batch256_ms'] / o['batch256_ms']:.1f}x) |",
        f"| training, batch 256 | {tr['windows_per_s']:,.0f} windows/s |",
        f"| peak memory: predict / ONNX / torch / training | {s['peak_mb']:.0f} / {o['peak_mb']:.0f} / {t['peak_mb']:.0f} / {tr['peak_mb']:.0f} MB |",
    ]  # fmt: skip
    return "\n".join(rows) + f"\n\nMachine: {r['machine']}; {r['date']}; `python bench/bench.py`.\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=sorted(PARTS))
    ap.add_argument("--record", type=Path, default=RECORD)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--readme", type=Path)
    args = ap.parse_args()
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return
    res = {name: _child(name, args) for name in ("stages", "onnx", "torch", "train", "cli")}
    res.update(machine=machine(), date=time.strftime("%Y-%m-%d"))
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(table(res))
    if args.readme:
        from ecgmtl.readme import update_readme

        update_readme(args.readme, "bench:cpu", table(res))


if __name__ == "__main__":
    main()
