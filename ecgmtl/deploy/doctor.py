"""`ecgmtl doctor`: what this installation has, and whether CUDA really runs a model here."""

from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

PACKAGES = ("ecgmtl", "numpy", "scipy", "wfdb", "neurokit2", "onnx", "onnxruntime-gpu", "onnxruntime", "torch", "typer")


def versions() -> dict[str, str | None]:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def check_model_on(model_path: Path, device: str) -> dict:
    """Run the model with `device` on its task's example batch (random inputs of the model's shapes: 256 beat
    windows, or 6 records of windows); CUDA is only asked for where it is usable."""
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.registry import task_for_meta

    m = OnnxModel(model_path, device=device)
    inputs, _ = task_for_meta(m.meta).example_inputs(m.meta)
    arrays = [t.numpy() for t in inputs.values()]
    m.run(*arrays)  # warm-up
    t0 = time.perf_counter()
    p, r = m.run(*arrays)
    return {
        "provider": m.provider,
        "batch": int(arrays[0].shape[0]),
        "seconds_per_batch": time.perf_counter() - t0,
        "probabilities": p,
        "reconstruction": r,
    }


def report(model_path: Path | None = None) -> dict:
    import onnxruntime as ort

    from ecgmtl.deploy.models import default_model_path
    from ecgmtl.deploy.runtime import cuda_device_count, cuda_usable

    model_path = Path(model_path) if model_path else default_model_path()
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
        "onnxruntime_providers": ort.get_available_providers(),
        "cuda_devices_seen_by_driver": cuda_device_count(),
        "model": str(model_path),
    }
    if not model_path.is_file():
        info["model_check"] = f"no model at {model_path}"
        return info
    cpu = check_model_on(model_path, "cpu")
    info["cpu"] = {
        "provider": cpu["provider"],
        "batch": cpu["batch"],
        "ms_per_batch": round(1000 * cpu["seconds_per_batch"], 2),
    }
    if not cuda_usable():
        why = (
            "this onnxruntime has no CUDAExecutionProvider"
            if "CUDAExecutionProvider" not in info["onnxruntime_providers"]
            else "the CUDA driver reports no GPU"
        )
        info["cuda"] = {"runs": False, "why": why}
        return info
    gpu = check_model_on(model_path, "cuda")
    diff = max(
        float(np.abs(gpu["probabilities"] - cpu["probabilities"]).max()),
        float(np.abs(gpu["reconstruction"] - cpu["reconstruction"]).max()),
    )
    info["cuda"] = {
        "runs": gpu["provider"] == "CUDAExecutionProvider",
        "provider": gpu["provider"],
        "ms_per_batch": round(1000 * gpu["seconds_per_batch"], 2),
        "max_abs_diff_vs_cpu": diff,
    }
    return info


def format_report(info: dict) -> str:
    v = info["versions"]
    lines = [f"python {info['python']} on {info['platform']}"]
    lines += [f"  {k:<16} {v[k] or '-'}" for k in PACKAGES]
    lines.append(f"onnxruntime providers: {', '.join(info['onnxruntime_providers'])}")
    lines.append(f"GPUs the CUDA driver reports: {info['cuda_devices_seen_by_driver']}")
    lines.append(f"model: {info['model']}")
    if "model_check" in info:
        lines.append(f"  {info['model_check']}")
        return "\n".join(lines)
    lines.append(
        f"  CPU: runs on {info['cpu']['provider']}, {info['cpu']['ms_per_batch']} ms per batch of {info['cpu']['batch']}"
    )
    c = info["cuda"]
    if c["runs"]:
        lines.append(
            f"  CUDA: runs on {c['provider']}, {c['ms_per_batch']} ms per batch, "
            f"max |diff| vs CPU {c['max_abs_diff_vs_cpu']:.1e}"
        )
    elif "why" in c:
        lines.append(f"  CUDA: not usable here ({c['why']}); --device auto runs on the CPU, --device cuda is refused")
    else:
        lines.append(f"  CUDA: asked for, but the session ran on {c['provider']}")
    return "\n".join(lines)
