"""The exporter core: a checkpoint to a self-describing ONNX file, the task's graph (hard output constraints
included) written by torch's exporter, its metadata stored in the file, and checked against torch in
onnxruntime before it is put in place. What the graph computes is the task's (Task.deployable)."""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecgmtl import __version__
from ecgmtl.deploy.runtime import META_KEY
from ecgmtl.errors import ModelError
from ecgmtl.io.atomic import atomic_path
from ecgmtl.mtl.constraints import declared_constraints

MODEL_FORMAT = "ecgmtl-onnx/1"
OUTPUTS = ["probabilities", "reconstruction"]


def common_metadata(ck: dict, name: str, task) -> dict:
    """What every exported model says of itself; the task adds what its prediction needs."""
    cfg, meta = ck["config"], ck["meta"]
    return {
        "format": MODEL_FORMAT,
        "name": name,
        "task": task.name,
        "code_version": __version__,
        "trained_with_version": meta["code_version"],
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "task_outputs": {"classification": "probabilities", "reconstruction": "reconstruction"},
        "classes": meta["classes"],
        "constraints": declared_constraints(meta),  # hard ones are in the graph; soft ones shaped training
        "model": cfg["model"],
        "data_fingerprint": meta["data_fingerprint"],
        "epoch": meta["epoch"],
        "epochs": cfg["schedule"]["pretrain_epochs"] + cfg["schedule"]["joint_epochs"],
        "attribution": task.attribution(),
    }


def export_onnx(
    run: str | os.PathLike | list,
    out: str | os.PathLike,
    name: str | None = None,
    tol: float = 1e-4,
    calibrate: bool = True,
    data_dir: str | None = None,
) -> dict:
    """Export run's best checkpoint to `out` and check it against torch; returns the check's figures.

    The task fits what it needs from data first (`calibrate`: the beat model's temperature and quality
    thresholds on the run's validation records). Several runs of one recipe (a list) are exported as one
    graph that averages them (ecgmtl.deploy.ensemble), each member with what its own run fitted. The file is
    written to a temporary name and renamed only after the check passes."""
    from ecgmtl.deploy.ensemble import check_members, describe, ensemble
    from ecgmtl.tasks.registry import task_for_meta
    from ecgmtl.train.checkpoint import load_checkpoint, model_from_checkpoint

    runs = list(run) if isinstance(run, (list, tuple)) else [run]
    cks, tasks, refs, graphs, infos = [], [], [], [], []
    for r in runs:
        ck = load_checkpoint(r)
        model, cfg = model_from_checkpoint(ck)
        task = task_for_meta(ck["meta"])
        task.prepare_export(ck, model, cfg, calibrate, data_dir)
        cks.append(ck)
        tasks.append(task)
        refs.append(task.deployable(model, ck["meta"]).eval())
        graphs.append(task.deployable(model, ck["meta"], graph=True).eval())
        infos.append({**common_metadata(ck, name or Path(out).stem, task), **task.metadata(ck)})
    check_members(infos, [str(r) for r in runs])
    ck, task, info = cks[0], tasks[0], infos[0]
    inputs, dims = task.example_inputs(ck["meta"])
    reference = refs[0] if len(runs) == 1 else ensemble(refs, len(inputs))
    graph = graphs[0] if len(runs) == 1 else ensemble(graphs, len(inputs))
    if len(runs) > 1:
        info["ensemble"] = describe(cks, [str(r) for r in runs])
    if getattr(graph, "graph_form", None):  # a deployable may say which form of the model it exports
        info["graph"] = graph.graph_form
    doc = f"ecgmtl {info['name']}: {task.description} classes + reconstruction. {task.attribution()}"
    with atomic_path(out) as tmp:  # written only if the check below passes
        write_onnx(graph, tuple(inputs.values()), tmp, list(inputs), dims, info, doc)
        check = verify(str(tmp), reference, inputs, tol)
    summary = {**check, **task.export_summary({**info, **ck["meta"]})}
    if len(runs) > 1:
        summary["ensemble"] = info["ensemble"]
    return {"path": str(out), **summary}


def write_onnx(
    graph: nn.Module, args: tuple, path: Path, input_names: list[str], dynamic_shapes: tuple, info: dict, doc: str
) -> None:
    """torch's dynamo exporter to `path`, quietly; the metadata `info` (key 'ecgmtl', JSON) and `doc` added;
    checked by onnx.checker."""
    import onnx

    quiet = logging.getLogger("torch.onnx")  # it warns about torchvision ops these models do not use
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # torch's exporter warns about its own internals
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=UserWarning)
            torch.onnx.export(
                graph,
                args,
                str(path),
                input_names=input_names,
                output_names=OUTPUTS,
                dynamic_shapes=dynamic_shapes,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    finally:
        quiet.setLevel(level)
    proto = onnx.load(path)
    del proto.metadata_props[:]
    for k, v in {META_KEY: json.dumps(info), "ecgmtl_version": __version__, "model_name": info["name"]}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.doc_string = doc
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def verify(path: str, reference: nn.Module, inputs: dict[str, torch.Tensor], tol: float) -> dict:
    """Run the ONNX file in onnxruntime (CPU) and compare with torch; raise ModelError beyond `tol`."""
    from ecgmtl.deploy.runtime import OnnxModel

    with torch.no_grad():
        want = [t.numpy() for t in reference(*inputs.values())]
    got = OnnxModel(path, device="cpu").run(*(t.numpy() for t in inputs.values()))
    diff = {k: float(np.abs(a - b).max()) for k, a, b in zip(OUTPUTS, want, got)}
    if max(diff.values()) > tol:
        raise ModelError(f"exported model disagrees with torch by {max(diff.values()):.2e} (> {tol:g}); not written")
    return {"max_abs_diff": diff, "tolerance": tol}
