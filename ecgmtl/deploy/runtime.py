"""Running an exported model in onnxruntime: CUDA when a GPU really runs, else CPU, said clearly."""

from __future__ import annotations

import ctypes
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ecgmtl.errors import ConfigError, ModelError, first_line

META_KEY = "ecgmtl"


@lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """GPUs the CUDA driver reports, asked directly so that no CUDA error is logged where there is none."""
    for lib in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            cuda = ctypes.CDLL(lib)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0:
            return int(count.value)
        return 0
    return 0


def cuda_usable() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers() and cuda_device_count() > 0


def providers_for(device: str) -> list[str]:
    """'auto': CUDA when usable, else CPU. 'cuda' without a usable GPU is refused, never a silent fallback."""
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    if device == "cpu" or (device == "auto" and not cuda_usable()):
        return ["CPUExecutionProvider"]
    if not cuda_usable():
        raise ConfigError("--device cuda: no usable GPU or no CUDA build of onnxruntime here; use --device cpu")
    _preload_cuda_libraries()
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


@lru_cache(maxsize=1)
def _preload_cuda_libraries() -> None:
    """CUDA and cuDNN from the nvidia-* pip packages (`pip install onnxruntime-gpu[cuda,cudnn]`, or PyTorch's),
    where the system has none on its library path. onnxruntime reports what it could not load on stdout, which
    is the JSON channel here: it goes to stderr instead."""
    import contextlib
    import sys

    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        with contextlib.redirect_stdout(sys.stderr):
            ort.preload_dlls()


class OnnxModel:
    """An exported ecgmtl model in an onnxruntime session. `meta` is the JSON stored at export."""

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int = 0) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"no model file {self.path}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        # Idle pool threads sleep instead of spinning: the spin burns the core that the Python side (detection,
        # a companion model's thread) needs next. Measured on 2 cores: the 24-h Holter 18.4 -> 16.9 s, the
        # beat model's own throughput unchanged (bench/bench.py).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers_for(device))
        except ConfigError:
            raise
        except Exception as e:
            raise ModelError(f"{self.path} is not a usable ONNX model ({first_line(e, 120)})") from None
        raw = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if raw is None:
            raise ModelError(f"{self.path} is an ONNX file but not an ecgmtl model (no '{META_KEY}' metadata)")
        self.meta = json.loads(raw)
        self.provider = self.session.get_providers()[0]

    @property
    def name(self) -> str:
        return self.meta["name"]

    def run(self, *inputs: np.ndarray, batch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The graph on `inputs` (in its input order, e.g. beat windows and RR features, or records of windows;
        see the model's metadata "inputs"), `batch` items of the first axis at a time (default: about 256 KB of
        the first input, or 64 records of windows). Returns the probabilities (items, classes) and the
        reconstruction (the first input's shape)."""
        names = [i.name for i in self.session.get_inputs()]
        if len(inputs) != len(names):
            raise ModelError(f"{self.path} takes {len(names)} input(s) ({', '.join(names)}), not {len(inputs)}")
        x = inputs[0]
        # about 256 KB of input per call: measured on 2 cores, the beat model (2 x 128 per beat) gives 27,000
        # beats/s at 256-512 beats against 25,000 at 4096, the rhythm model 1.78 ms per 30-s window at 8-21 against
        # 1.9 at 60 (the activations stay in cache); records of windows (4-D) 64 at a time
        if not batch:
            item = max(1, int(np.prod(x.shape[1:])))  # floats per item
            batch = 64 if x.ndim == 4 else min(4096, max(1, 65536 // item))
        probs, recon = [], []
        for s in range(0, x.shape[0], batch):
            feed = {n: np.ascontiguousarray(a[s : s + batch], np.float32) for n, a in zip(names, inputs)}
            p, r = self.session.run(None, feed)
            probs.append(p)
            recon.append(r)
        if not probs:
            return np.zeros((0, len(self.meta["classes"])), np.float32), np.zeros(x.shape, np.float32)
        return np.concatenate(probs), np.concatenate(recon)
