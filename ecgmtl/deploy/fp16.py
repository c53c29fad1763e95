"""The FP16 variant of an exported model, for GPUs: reductions, normalisations and everything from the softmax
on stay in float32; checked against the FP32 file in onnxruntime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ecgmtl.deploy.onnx import OUTPUTS
from ecgmtl.deploy.runtime import META_KEY
from ecgmtl.errors import ModelError
from ecgmtl.io.atomic import atomic_path

# Kept in fp32 in the FP16 variant: reductions and normalisations, and every node from the softmax on (the
# probabilities, the temperature and the hard constraints).
FP32_OPS = (
    "ReduceMean",
    "ReduceMax",
    "ReduceSum",
    "ReduceL2",
    "Softmax",
    "LayerNormalization",
    "BatchNormalization",
    "InstanceNormalization",
    "GroupNormalization",
)
FP16_TOLERANCE = 1e-2  # max |diff| against the FP32 file, probabilities and reconstruction (normalised mV)


def fp16_path(path: str | os.PathLike) -> Path:
    """Where the FP16 variant of `path` goes: model.onnx -> model.fp16.onnx."""
    p = Path(path)
    return p.with_name(p.stem + ".fp16" + p.suffix)


def export_fp16(src: str | os.PathLike, out: str | os.PathLike | None = None, tol: float = FP16_TOLERANCE) -> dict:
    """Write an FP16 variant of the exported model `src` (inputs and outputs stay float32), checked against it
    in onnxruntime on random windows; not written beyond `tol`."""
    import onnx
    from onnxconverter_common import float16

    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.registry import task_for_meta

    out = Path(out) if out else fp16_path(src)
    proto = onnx.load(str(src))
    meta = json.loads(next(p.value for p in proto.metadata_props if p.key == META_KEY))
    keep = _downstream(proto.graph, "Softmax")
    half = float16.convert_float_to_float16(
        proto,
        keep_io_types=True,
        op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP32_OPS),
        node_block_list=keep,
    )
    _float32_outputs(half)
    meta.update(precision="fp16", fp16_of=Path(src).name, fp16_tolerance=tol)
    for p in half.metadata_props:
        if p.key == META_KEY:
            p.value = json.dumps(meta)
    ref = OnnxModel(src, device="cpu")
    inputs, _ = task_for_meta(meta).example_inputs(meta)
    arrays = [t.numpy() for t in inputs.values()]
    with atomic_path(out) as tmp:
        onnx.save(half, str(tmp))
        half_model = OnnxModel(tmp, device="cpu")
        got, want = half_model.run(*arrays), ref.run(*arrays)
        diff = {k: float(np.abs(a - b).max()) for k, a, b in zip(OUTPUTS, got, want)}
        if max(diff.values()) > tol:
            raise ModelError(f"the FP16 model disagrees with FP32 by {max(diff.values()):.2e} (> {tol:g}); not written")
    return {"path": str(out), "max_abs_diff_vs_fp32": diff, "tolerance": tol}


def _float32_outputs(proto) -> None:
    """Graph outputs in float32 as in the FP32 file. The converter's keep_io_types misses an output made by a
    node it kept in fp32 (here the softmax): it casts that output to fp16; the cast is made to float32."""
    import onnx

    producers = {o: n for n in proto.graph.node for o in n.output}
    for out in proto.graph.output:
        if out.type.tensor_type.elem_type != onnx.TensorProto.FLOAT16:
            continue
        node = producers[out.name]
        if node.op_type == "Cast":
            next(a for a in node.attribute if a.name == "to").i = onnx.TensorProto.FLOAT
        else:
            node.output[list(node.output).index(out.name)] = out.name + "_fp16"
            proto.graph.node.append(
                onnx.helper.make_node(
                    "Cast", [out.name + "_fp16"], [out.name], to=onnx.TensorProto.FLOAT, name=out.name + "_to_fp32"
                )
            )
        out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT


def _downstream(graph, op_type: str) -> list[str]:
    """Names of the nodes of `op_type` and of every node that depends on one of them."""
    tainted: set[str] = set()
    names = []
    for node in graph.node:  # ONNX graphs are topologically sorted
        if node.op_type == op_type or tainted.intersection(node.input):
            tainted.update(node.output)
            names.append(node.name)
    return names
