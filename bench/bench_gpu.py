"""The GPU half of the benchmark: training throughput, the ONNX model (FP32 and FP16) in onnxruntime's CUDA
provider, torch eager on the GPU, and `ecgmtl predict --device cuda` against the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from bench_common import _per_call, _random_deployable, _timed, _train_rate, _trainer, predict_walls


def part_gpu_train(args) -> dict:
    """Training on the GPU: fp32 and bf16 autocast, torch.compile, a larger batch; with and without drawing
    the batches, so that the data pipeline's share shows."""
    import torch

    rows = {}
    for label, overrides in [
        ("fp32", ["train.precision=fp32"]),
        ("bf16", ["train.precision=bf16"]),
        ("bf16_compiled", ["train.precision=bf16", "train.compile=true"]),
        ("bf16_batch2048", ["train.precision=bf16", "train.batch_size=2048"]),
    ]:
        tr = _trainer("cuda", *overrides)
        torch.cuda.reset_peak_memory_stats()
        rows[label] = {
            "windows_per_s": _train_rate(tr, 200, True, warmup=20),
            "step_only_windows_per_s": _train_rate(tr, 200, False, warmup=5),
            "batch": tr.cfg.train.batch_size,
            "data_on_device": tr.data_device == tr.device,
            "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20,
        }
        del tr
    return {"runs": rows, "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}


def _real_beats(record: Path, meta: dict):
    from ecgmtl.io.record import read_record, select_lead
    from ecgmtl.signal.preprocess import extract_beats
    from ecgmtl.tasks.beats.predict import preprocess_config

    pcfg = preprocess_config(meta)
    rec = read_record(record, annotations=False)
    return extract_beats(select_lead(rec, pcfg.lead), rec.fs, pcfg)


def part_gpu_onnx(args) -> dict:
    """onnxruntime's CUDA provider: throughput of the FP32 and FP16 files (host arrays in and out, as
    `ecgmtl predict` calls it), and their agreement with FP32 on the CPU on a real record's beats."""
    import tempfile

    from ecgmtl.deploy.fp16 import export_fp16
    from ecgmtl.deploy.runtime import OnnxModel

    fp16 = Path(tempfile.mkdtemp()) / "model.fp16.onnx"
    check = export_fp16(args.model, fp16)
    cpu = OnnxModel(args.model, device="cpu")
    beats = _real_beats(args.record, cpu.meta)
    p_cpu, r_cpu = cpu.run(beats.windows, beats.rr)
    out = {"fp16_export_check": check["max_abs_diff_vs_fp32"], "beats": len(beats.windows)}
    for label, path in (("fp32", args.model), ("fp16", fp16)):
        m = OnnxModel(path, device="cuda")
        p, r = m.run(beats.windows, beats.rr)
        x = np.tile(beats.windows, (65536 // len(beats.windows) + 1, 1, 1))[:65536]
        rr = np.tile(beats.rr, (65536 // len(beats.rr) + 1, 1))[:65536]
        m.run(x[:8192], rr[:8192], batch=8192)
        best = min(_timed(lambda: m.run(x, rr, batch=8192)) for _ in range(3))
        one = _per_call(lambda i: m.session.run(None, {"x": x[i : i + 1], "rr": rr[i : i + 1]}), 300)
        b256 = _per_call(lambda i: m.session.run(None, {"x": x[:256], "rr": rr[:256]}), 100)
        out[label] = {
            "provider": m.provider,
            "beats_per_s_batch8192": len(x) / best,
            "batch1_ms": 1000 * one,
            "batch256_ms": 1000 * b256,
            "max_abs_diff_vs_cpu_fp32": {
                "probabilities": float(np.abs(p - p_cpu).max()),
                "reconstruction": float(np.abs(r - r_cpu).max()),
            },
            "same_class_share": float((p.argmax(1) == p_cpu.argmax(1)).mean()),
        }
    return out


def part_gpu_torch(args) -> dict:
    import torch

    wrapper, x, rr = _random_deployable(8192)
    wrapper, x, rr = wrapper.cuda(), x.cuda(), rr.cuda()
    res = {}
    with torch.inference_mode():
        for n in (1, 256, 8192):
            wrapper(x[:n], rr[:n])
            torch.cuda.synchronize()
            calls = 300 if n == 1 else 50
            per = _per_call(lambda i: wrapper(x[:n], rr[:n]), calls)
            torch.cuda.synchronize()
            res[f"batch{n}_ms"] = 1000 * per
    return res


def part_gpu_predict(args) -> dict:
    """`ecgmtl predict --device cuda` against `--device cpu`, whole process, and their agreement."""
    res = {}
    for dev in ("cpu", "cuda"):
        walls, stdout = predict_walls(args, dev)
        res[dev] = {"wall_s_min": min(walls), "json": json.loads(stdout)}
    a, b = res["cpu"].pop("json"), res["cuda"].pop("json")
    diff = max(
        abs(pa - pb)
        for x, y in zip(a["beats"], b["beats"])
        for pa, pb in zip(x["probabilities"].values(), y["probabilities"].values())
    )
    return {
        **res,
        "provider": b["provider"],
        "beats": a["n_beats"],
        "same_beats": a["n_beats"] == b["n_beats"],
        "max_abs_prob_diff": diff,
        "same_labels": [x["class"] for x in a["beats"]] == [y["class"] for y in b["beats"]],
    }
