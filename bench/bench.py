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
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import (
    MODEL,
    RECORD,
    ROOT,
    _peak_mb,
    _per_call,
    _random_deployable,
    _timed,
    _train_rate,
    _trainer,
    predict_walls,
)
from bench_gpu import part_gpu_onnx, part_gpu_predict, part_gpu_torch, part_gpu_train
from bench_holter import part_denoise, part_holter


def _child(part: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--record", str(args.record), "--model", str(args.model)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:  # recorded, and the other parts still run; main() exits non-zero at the end
        return {"error": "\n".join(out.stderr.strip().splitlines()[-3:])}
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_stages(args) -> dict:
    t0 = time.perf_counter()
    from ecgmtl.deploy.predict import predict_record
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.base import PredictOptions

    t_import = time.perf_counter() - t0
    m = OnnxModel(args.model, device="cpu")
    t_load = time.perf_counter() - t0 - t_import
    timings: dict = {}
    res = predict_record(m, args.record, PredictOptions(timings=timings))
    t1 = time.perf_counter()
    text = json.dumps(res)
    with open(os.devnull, "w") as f:
        f.write(text)
    t_write = time.perf_counter() - t1
    return {
        "import_s": t_import,
        "model_load_s": t_load,
        **{f"{k}_s": v for k, v in timings.items()},
        "json_s": t_write,
        "beats": res["n_beats"],
        "peak_mb": _peak_mb(),
    }


def part_onnx(args) -> dict:
    import numpy as np

    from ecgmtl.deploy.runtime import OnnxModel

    m = OnnxModel(args.model, device="cpu")
    _, c, w = m.meta["inputs"]["x"]
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (16384, c, w)).astype(np.float32)
    rr = np.tile(np.asarray(m.meta["rr_mean"], np.float32), (len(x), 1))
    m.run(x[:4096], rr[:4096])
    best = min(_timed(lambda: m.run(x, rr, batch=4096)) for _ in range(5))
    one = _per_call(lambda i: m.session.run(None, {"x": x[i : i + 1], "rr": rr[i : i + 1]}), 300)
    b256 = _per_call(lambda i: m.session.run(None, {"x": x[:256], "rr": rr[:256]}), 30)
    return {
        "beats_per_s_batch4096": len(x) / best,
        "batch1_ms": 1000 * one,
        "batch256_ms": 1000 * b256,
        "threads": os.cpu_count(),
        "peak_mb": _peak_mb(),
    }


def part_torch(args) -> dict:
    import torch

    wrapper, x, rr = _random_deployable(256)
    with torch.inference_mode():
        wrapper(x, rr)
        one = _per_call(lambda i: wrapper(x[i % 256 : i % 256 + 1], rr[:1]), 300)
        b256 = _per_call(lambda i: wrapper(x, rr), 30)
    return {
        "batch1_ms": 1000 * one,
        "batch256_ms": 1000 * b256,
        "threads": torch.get_num_threads(),
        "peak_mb": _peak_mb(),
    }


def part_train(args) -> dict:
    import torch

    tr = _trainer("cpu")
    return {
        "windows_per_s": _train_rate(tr, 20, True),
        "step_only_windows_per_s": _train_rate(tr, 20, False),
        "batch": tr.cfg.train.batch_size,
        "threads": torch.get_num_threads(),
        "peak_mb": _peak_mb(),
    }


def part_cli(args) -> dict:
    walls, _ = predict_walls(args, "cpu")
    alone, _ = predict_walls(args, "cpu", extra=("--no-companions",))
    return {
        "wall_s_min": min(walls),
        "wall_s_median": statistics.median(walls),
        "runs": len(walls),
        "no_companions_wall_s_min": min(alone),
    }


PARTS = {
    "stages": part_stages,
    "onnx": part_onnx,
    "torch": part_torch,
    "train": part_train,
    "cli": part_cli,
    "holter": part_holter,
    "denoise": part_denoise,
    "gpu_train": part_gpu_train,
    "gpu_onnx": part_gpu_onnx,
    "gpu_torch": part_gpu_torch,
    "gpu_predict": part_gpu_predict,
}
CPU_PARTS = ("stages", "onnx", "torch", "train", "cli", "holter", "denoise")
GPU_PARTS = ("gpu_train", "gpu_onnx", "gpu_torch", "gpu_predict")


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
        "| what | figure |",
        "|---|---:|",
        f"| `ecgmtl predict` 30-min record, whole process, beats and rhythm (min of {c['runs']}) | {c['wall_s_min']:.2f} s |",
        *(
            [f"| the same, `--no-companions` (beats only) | {c['no_companions_wall_s_min']:.2f} s |"]
            if "no_companions_wall_s_min" in c
            else []
        ),
        f"| of which import / load model | {s['import_s']:.2f} / {s['model_load_s']:.2f} s |",
        f"| read / preprocess / detect beats | {s['read_s']:.2f} / {s['preprocess_s']:.2f} / {s['detect_s']:.2f} s |",
        f"| model ({s['beats']} beats) / quality + output / JSON | {s['model_s']:.3f} / {s['quality and output_s']:.3f} / {s['json_s']:.3f} s |",
        f"| model share of the in-process time | {100 * s['model_s'] / stage_sum:.1f}% |",
        f"| ONNX model alone, batch 4096 | {o['beats_per_s_batch4096']:,.0f} beats/s |",
        f"| ONNX Runtime vs torch eager, batch 1 | {o['batch1_ms']:.3f} vs {t['batch1_ms']:.3f} ms ({t['batch1_ms'] / o['batch1_ms']:.1f}x) |",
        f"| ONNX Runtime vs torch eager, batch 256 | {o['batch256_ms']:.2f} vs {t['batch256_ms']:.2f} ms ({t['batch256_ms'] / o['batch256_ms']:.1f}x) |",
        f"| training, batch {tr['batch']}, batches drawn / step alone | {tr['windows_per_s']:,.0f} / {tr['step_only_windows_per_s']:,.0f} windows/s |",
        f"| peak memory: predict / ONNX / torch / training | {s['peak_mb']:.0f} / {o['peak_mb']:.0f} / {t['peak_mb']:.0f} / {tr['peak_mb']:.0f} MB |",
    ]
    if "holter" in r:  # results saved before the Holter part have none
        h = r["holter"]
        for key, v in h.get("runs", {f"{h['hours']:g}": h}).items():
            hours, _, flag = key.partition("-")
            what = " `--no-rhythm` (beats only)" if flag else (" with the AF part" if v.get("af_line") else "")
            rows.append(
                f"| `ecgmtl holter` {hours}-h two-lead record (MIT-BIH joined){what}, whole process | "
                f"{v['wall_s']:.1f} s, peak {v['peak_mb']:.0f} MB |"
            )
    if "denoise" in r:
        d = r["denoise"]
        rows.append(
            f"| `ecgmtl denoise` {d['hours']:g}-h two-lead record (MIT-BIH joined), whole process | "
            f"{d['wall_s']:.1f} s, peak {d['peak_mb']:.0f} MB |"
        )
    return "\n".join(rows) + f"\n\nMachine: {r['machine']}; {r['date']}; `python bench/bench.py`.\n"


def table_gpu(r: dict) -> str:
    """The GPU half: training (against this machine's CPU figure in the same run), inference, agreement."""
    t, o, tc, p = r["gpu_train"], r["gpu_onnx"], r["gpu_torch"], r["gpu_predict"]
    cpu = r["train"]["windows_per_s"]
    rows = ["| what | figure |", "|---|---:|"]
    for label, v in t["runs"].items():
        rows.append(
            f"| training, {label.replace('_', ', ')} (batch {v['batch']}) | {v['windows_per_s']:,.0f} windows/s "
            f"({v['windows_per_s'] / cpu:.0f}x this machine's CPU); step alone {v['step_only_windows_per_s']:,.0f} |"
        )
    rows += [
        f"| training on this machine's CPU ({r['train']['threads']} threads, batch {r['train']['batch']}) | {cpu:,.0f} windows/s |",
        f"| ONNX Runtime CUDA, FP32 / FP16, batch 8192 | {o['fp32']['beats_per_s_batch8192']:,.0f} / {o['fp16']['beats_per_s_batch8192']:,.0f} beats/s |",
        f"| ONNX Runtime CUDA FP32 vs torch eager CUDA, batch 1 | {o['fp32']['batch1_ms']:.3f} vs {tc['batch1_ms']:.3f} ms |",
        f"| ONNX Runtime CUDA FP32 vs torch eager CUDA, batch 256 | {o['fp32']['batch256_ms']:.3f} vs {tc['batch256_ms']:.3f} ms |",
        f"| CUDA FP32 vs CPU FP32, {o['beats']} beats of the record: max abs diff probabilities / reconstruction | "
        f"{o['fp32']['max_abs_diff_vs_cpu_fp32']['probabilities']:.1e} / {o['fp32']['max_abs_diff_vs_cpu_fp32']['reconstruction']:.1e} |",
        f"| CUDA FP16 vs CPU FP32: max abs diff probabilities / reconstruction; same class | "
        f"{o['fp16']['max_abs_diff_vs_cpu_fp32']['probabilities']:.1e} / {o['fp16']['max_abs_diff_vs_cpu_fp32']['reconstruction']:.1e}; "
        f"{100 * o['fp16']['same_class_share']:.2f}% |",
        f"| `ecgmtl predict --device cuda` vs `--device cpu`, whole process | {p['cuda']['wall_s_min']:.2f} vs {p['cpu']['wall_s_min']:.2f} s |",
        f"| their JSON: provider; max abs diff of probabilities; same labels | {p['provider']}; {p['max_abs_prob_diff']:.1e}; {p['same_labels']} |",
    ]
    return (
        "\n".join(rows)
        + f"\n\nGPU: {t['gpu']} (torch {t['torch']}); host {r['machine']}; {r['date']}; `python bench/bench.py`.\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=sorted(PARTS))
    ap.add_argument("--record", type=Path, default=RECORD)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument(
        "--gpu", choices=("auto", "on", "off"), default="auto", help="the GPU half (auto: when a GPU is seen)"
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--from-json", type=Path, help="print the tables of a saved run instead of measuring")
    ap.add_argument("--readme", type=Path)
    ap.add_argument(
        "--block",
        choices=("all", "cpu", "gpu"),
        default="all",
        help="which README block(s) to write (a GPU machine's CPU is not the reference CPU)",
    )
    args = ap.parse_args()
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return
    if args.from_json:
        res = json.loads(args.from_json.read_text())
    else:
        from ecgmtl.deploy.runtime import cuda_device_count

        gpu = args.gpu == "on" or (args.gpu == "auto" and cuda_device_count() > 0)
        res = {name: _child(name, args) for name in CPU_PARTS + (GPU_PARTS if gpu else ())}
        res.update(machine=machine(), date=time.strftime("%Y-%m-%d"))
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))
    failed = {k: v["error"] for k, v in res.items() if isinstance(v, dict) and "error" in v}
    if failed:
        raise SystemExit("bench parts failed:\n" + "\n".join(f"{k}: {v}" for k, v in failed.items()))
    blocks = {"bench:cpu": table(res)}
    if "gpu_train" in res:
        blocks["bench:gpu"] = table_gpu(res)
    print(json.dumps(res, indent=1) if args.json else "\n".join(blocks.values()))
    if args.readme:
        from ecgmtl.readme import update_readme

        for marker, text in blocks.items():
            if args.block in ("all", marker.split(":")[1]):
                update_readme(args.readme, marker, text)


if __name__ == "__main__":
    main()
