"""Export a checkpoint to a self-describing ONNX file with the hard output constraints in the graph."""

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

from . import __version__
from .atomic import atomic_path
from .checkpoint import load_checkpoint, model_from_checkpoint
from .constraints import ConstraintConfig, HardProjection, resolve
from .errors import ModelError, RecordError

META_KEY = "ecgmtl"
MODEL_FORMAT = "ecgmtl-onnx/1"
ATTRIBUTION = (
    "Trained on the MIT-BIH Arrhythmia Database (Moody & Mark 2001, ODC-By 1.0) from PhysioNet "
    "(Goldberger et al. 2000)."
)


class Deployable(nn.Module):
    """What the ONNX graph computes, constraints included.

    x: (batch, channels, window) normalised beat windows (see PreprocessConfig.template_channel); rr: (batch, n_rr) raw RR features (s and ratios).
    Returns probabilities (batch, n_classes), a softmax, so they are >= 0 and sum to 1, and the
    reconstruction (batch, channels, window) projected into the amplitude range seen in training.
    """

    def __init__(self, model: nn.Module, meta: dict, conv2d: bool = False) -> None:
        """conv2d: compute with the model's 2-D twin (see ecgmtl.models.conv2d), the form that is exported
        where the model allows it; the function is the same."""
        from .models.conv2d import as_conv2d, convertible

        super().__init__()
        self.conv2d = conv2d and convertible(model)
        self.model = as_conv2d(model) if self.conv2d else model
        self.register_buffer("rr_mean", torch.tensor(meta["rr_mean"], dtype=torch.float32))
        self.register_buffer("rr_std", torch.tensor(meta["rr_std"], dtype=torch.float32))
        self.project = HardProjection(declared_constraints(meta), len(meta["classes"]))
        self.temperature = float(meta.get("calibration", {}).get("temperature", 1.0))

    def forward(self, x: torch.Tensor, rr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rr = (rr - self.rr_mean) / self.rr_std
        if self.conv2d:
            out = self.model(x.unsqueeze(2), rr)
            recon = out["reconstruction"].squeeze(2)
        else:
            out = self.model(x, rr)
            recon = out["reconstruction"]
        return self.project(torch.softmax(out["logits"] / self.temperature, dim=-1), recon)


class RecordDeployable(nn.Module):
    """What a 12-lead (PTB-XL) model's ONNX graph computes: a batch of records, each as its sliding windows.

    x: (records, windows, leads, window) in mV, leads in the model's order (a hidden lead: its training mean,
    `lead_mean`, which is 0 after standardisation, as in lead-masking training). Returns the record-level
    probabilities (records, classes): the maximum over windows of the sigmoid outputs, then the hard
    constraints (p(NORM) + max p(other) <= 1 holds for what the user sees), and the reconstruction (records,
    windows, leads, window) in mV, clamped to the range seen in training."""

    def __init__(self, model: nn.Module, meta: dict) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(meta["lead_mean"], dtype=torch.float32)[:, None])
        self.register_buffer("std", torch.tensor(meta["lead_std"], dtype=torch.float32)[:, None])
        self.project = HardProjection(declared_constraints(meta), len(meta["classes"]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        records, windows = x.shape[0], x.shape[1]
        z = ((x - self.mean) / self.std).flatten(0, 1)
        out = self.model(z)
        p = torch.sigmoid(out["logits"]).reshape(records, windows, -1).amax(dim=1)
        p, recon = self.project(p, out["reconstruction"])
        return p, (recon * self.std + self.mean).reshape(x.shape)


def declared_constraints(meta: dict) -> list[dict]:
    """The run's resolved constraints; checkpoints from before constraints were configurable had one, the
    reconstruction clamped to the training range."""
    if "constraints" in meta:
        return meta["constraints"]
    return resolve([ConstraintConfig()], meta["classes"], tuple(meta["recon_bounds"]))


def model_metadata(ck: dict, name: str) -> dict:
    """Everything prediction needs, stored in the ONNX file (metadata key 'ecgmtl', JSON)."""
    cfg, meta = ck["config"], ck["meta"]
    return {
        "format": MODEL_FORMAT,
        "name": name,
        "code_version": __version__,
        "trained_with_version": meta["code_version"],
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "task_outputs": {"classification": "probabilities", "reconstruction": "reconstruction"},
        "inputs": {"x": ["batch", meta["in_leads"], cfg["preprocess"]["pre"] + cfg["preprocess"]["post"]],
                   "rr": ["batch", len(meta["rr_features"])]},  # fmt: skip
        "classes": meta["classes"],
        "preprocess": cfg["preprocess"],
        "rr_features": meta["rr_features"],
        "rr_mean": meta["rr_mean"],
        "rr_std": meta["rr_std"],
        "probabilities": "softmax",  # >= 0 and summing to 1 by construction, before any declared constraint
        "constraints": declared_constraints(meta),  # hard ones are in the graph; soft ones shaped training
        "calibration": meta.get("calibration", {"temperature": 1.0, "fitted": False}),
        "quality": meta.get("quality"),  # None: exported without validation data, beat quality checks off
        "model": cfg["model"],
        "train_records": meta["train_records"],
        "val_records": meta["val_records"],
        "data_fingerprint": meta["data_fingerprint"],
        "epoch": meta["epoch"],
        "epochs": cfg["schedule"]["pretrain_epochs"] + cfg["schedule"]["joint_epochs"],
        "val": meta["val"],
        "attribution": ATTRIBUTION,
    }


def validation_calibration(model: nn.Module, cfg, meta: dict, data_dir: str | None = None) -> dict:
    """Temperature scaling fitted on the run's validation records (annotated beats), with ECE before/after."""
    from .calibration import calibrate
    from .data.mitdb import load_beats
    from .data.paths import cache_dir, data_root, database_dir

    db = database_dir(data_root(data_dir or cfg.data.data_dir), "mitdb")
    ds = load_beats(db, list(meta["val_records"]), cfg.preprocess, cache_dir(cfg.data.cache_dir))
    rr = (ds.rr - np.asarray(meta["rr_mean"], np.float32)) / np.asarray(meta["rr_std"], np.float32)
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(ds.windows[s : s + 4096]), torch.from_numpy(rr[s : s + 4096]))["logits"]
                            for s in range(0, len(ds.labels), 4096)]).double().numpy()  # fmt: skip
    return {**calibrate(logits, ds.labels), "fitted": True, "records": list(meta["val_records"])}


def validation_quality(wrapper: nn.Module, cfg, meta: dict, data_dir: str | None = None) -> dict:
    """Quality thresholds from the validation records, through the prediction path (detected beats): the
    template-match and reconstruction-error quantiles below which few clean beats fall."""
    from .data.paths import data_root, database_dir
    from .preprocess import extract_beats
    from .quality import template_correlation, thresholds_from_validation
    from .record import read_record, select_lead

    db = database_dir(data_root(data_dir or cfg.data.data_dir), "mitdb")
    corr, rmse = [], []
    for name in meta["val_records"]:
        rec = read_record(db / name, annotations=False)
        beats = extract_beats(select_lead(rec, cfg.preprocess.lead), rec.fs, cfg.preprocess)
        with torch.no_grad():
            p, r = wrapper(torch.from_numpy(beats.windows), torch.from_numpy(beats.rr))
        rmse.append(np.sqrt(((r.numpy()[:, 0] - beats.windows[:, 0]) ** 2).mean(axis=1)))
        corr.append(template_correlation(beats.windows[:, 0], p.numpy().argmax(axis=1)))
    thr = thresholds_from_validation(np.concatenate(corr), np.concatenate(rmse))
    return {**thr.to_meta(), "records": list(meta["val_records"]), "beats": int(sum(len(c) for c in corr))}


def export_onnx(run: str | os.PathLike, out: str | os.PathLike, name: str | None = None, tol: float = 1e-4,
                calibrate: bool = True, data_dir: str | None = None) -> dict:  # fmt: skip
    """Export run's best checkpoint to `out` and check it against torch; returns the check's figures.

    With `calibrate`, a softmax temperature is fitted on the run's validation records first (this needs the
    MIT-BIH data) and goes into the graph and the metadata. The file is written to a temporary name and
    renamed only after the check passes.
    """
    ck = load_checkpoint(run)
    model, cfg = model_from_checkpoint(ck)
    meta = ck["meta"]
    if meta.get("task") == "ptbxl-superdiagnostic":
        return export_records(ck, model, out, name, tol)
    if calibrate:  # calibration and quality thresholds both come from the validation records
        try:
            meta["calibration"] = validation_calibration(model, cfg, meta, data_dir)
        except RecordError as e:
            raise RecordError(f"{e} (calibration reads the run's validation records; give --data-dir, or "
                              "export with --no-calibrate)") from None  # fmt: skip
    wrapper = Deployable(model, meta).eval()
    if calibrate:
        meta["quality"] = validation_quality(wrapper, cfg, meta, data_dir)
    window = cfg.preprocess.window
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, meta["in_leads"], window, generator=g) * 0.5
    rr = torch.tensor(meta["rr_mean"]) + torch.randn(256, len(meta["rr_mean"]), generator=g) * torch.tensor(
        meta["rr_std"]
    )
    graph = Deployable(model, meta, conv2d=True).eval()
    info = model_metadata(ck, name or Path(out).stem)
    info["graph"] = "2-D convolutions (1 x k)" if graph.conv2d else "1-D convolutions"
    batch = torch.export.Dim("batch", min=1)
    with atomic_path(out) as tmp:  # written only if the check below passes
        write_onnx(graph, (x, rr), tmp, ["x", "rr"], ({0: batch}, {0: batch}), info,
                   f"ecgmtl {info['name']}: AAMI beat classes + beat reconstruction. {ATTRIBUTION}")  # fmt: skip
        check = verify(str(tmp), wrapper, x, rr, tol)
    return {"path": str(out), **check, "calibration": meta.get("calibration")}


def export_records(ck: dict, model: nn.Module, out: str | os.PathLike, name: str | None, tol: float) -> dict:
    """The 12-lead export: RecordDeployable in the graph, with the decision thresholds chosen on the
    validation fold (stored in the checkpoint), checked against torch in onnxruntime."""
    meta = ck["meta"]
    wrapper = RecordDeployable(model, meta).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 7, meta["in_leads"], meta["window"], generator=g) * 0.3
    info = record_metadata(ck, name or Path(out).stem)
    dims = {0: torch.export.Dim("records", min=1), 1: torch.export.Dim("windows", min=1)}
    with atomic_path(out) as tmp:
        write_onnx(wrapper, (x,), tmp, ["x"], (dims,), info,
                   f"ecgmtl {info['name']}: 12-lead diagnostic superclasses + 12-lead reconstruction. {PTBXL_ATTRIBUTION}")  # fmt: skip
        check = verify(str(tmp), wrapper, x, None, tol)
    return {"path": str(out), **check, "thresholds": info["thresholds"]}


PTBXL_ATTRIBUTION = (
    "Trained on PTB-XL (Wagner et al. 2020, CC-BY 4.0) from PhysioNet (Goldberger et al. 2000); folds 1-8 of "
    "the records used, fold 9 for the checkpoint and thresholds."
)


def record_metadata(ck: dict, name: str) -> dict:
    """The 12-lead model's metadata: what `ecgmtl predict` needs to window, standardise and threshold."""
    cfg, meta = ck["config"], ck["meta"]
    return {
        "format": MODEL_FORMAT,
        "name": name,
        "task": meta["task"],
        "code_version": __version__,
        "trained_with_version": meta["code_version"],
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "task_outputs": {"classification": "probabilities", "reconstruction": "reconstruction"},
        "inputs": {"x": ["records", "windows", meta["in_leads"], meta["window"]]},
        "input_units": "mV",
        "classes": meta["classes"],
        "leads": meta["leads"],
        "fs": meta["fs"],
        "window": meta["window"],
        "stride": meta["stride"],
        "aggregation": "maximum over windows of the sigmoid outputs, then the hard constraints",
        "lead_mean": meta["lead_mean"],
        "lead_std": meta["lead_std"],
        "hidden_lead_value": "the lead's training mean (lead_mean), as in lead-masking training",
        "probabilities": "sigmoid (multi-label)",
        "thresholds": dict(zip(meta["classes"], meta["val"]["thresholds"])),
        "thresholds_from": "F1-maximising per class on the validation fold (strat_fold 9)",
        "constraints": declared_constraints(meta),
        "model": cfg["model"],
        "data": {k: cfg["data"][k] for k in ("rate", "crop_s", "stride_s", "crops_per_epoch", "mask_prob", "mask_max")},
        "folds": meta["folds"],
        "train_records": len(meta["train_records"]),
        "val_records": len(meta["val_records"]),
        "data_fingerprint": meta["data_fingerprint"],
        "epoch": meta["epoch"],
        "epochs": cfg["schedule"]["pretrain_epochs"] + cfg["schedule"]["joint_epochs"],
        "val": {k: v for k, v in meta["val"].items() if k != "thresholds"},
        "attribution": PTBXL_ATTRIBUTION,
    }


def write_onnx(graph: nn.Module, args: tuple, path: Path, input_names: list[str], dynamic_shapes: tuple, info: dict,
               doc: str) -> None:  # fmt: skip
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
            torch.onnx.export(graph, args, str(path), input_names=input_names,
                              output_names=["probabilities", "reconstruction"], dynamic_shapes=dynamic_shapes,
                              dynamo=True, external_data=False, verbose=False)  # fmt: skip
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


def verify(path: str, wrapper: nn.Module, x: torch.Tensor, rr: torch.Tensor, tol: float) -> dict:
    """Run the ONNX file in onnxruntime (CPU) and compare with torch; raise ModelError beyond `tol`."""
    from .runtime import OnnxModel

    with torch.no_grad():
        p_t, r_t = (t.numpy() for t in (wrapper(x) if rr is None else wrapper(x, rr)))
    m = OnnxModel(path, device="cpu")
    p_o, r_o = m.run_records(x.numpy()) if rr is None else m.run(x.numpy(), rr.numpy())
    diff = {"probabilities": float(np.abs(p_t - p_o).max()), "reconstruction": float(np.abs(r_t - r_o).max())}
    if max(diff.values()) > tol:
        raise ModelError(f"exported model disagrees with torch by {max(diff.values()):.2e} (> {tol:g}); not written")
    return {"max_abs_diff": diff, "tolerance": tol}


# Kept in fp32 in the FP16 variant: reductions and normalisations, and every node from the softmax on (the
# probabilities, the temperature and the hard constraints).
FP32_OPS = ("ReduceMean", "ReduceMax", "ReduceSum", "ReduceL2", "Softmax", "LayerNormalization",
            "BatchNormalization", "InstanceNormalization", "GroupNormalization")  # fmt: skip
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

    from .runtime import OnnxModel

    out = Path(out) if out else fp16_path(src)
    proto = onnx.load(str(src))
    meta = json.loads(next(p.value for p in proto.metadata_props if p.key == META_KEY))
    keep = _downstream(proto.graph, "Softmax")
    half = float16.convert_float_to_float16(
        proto, keep_io_types=True, op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP32_OPS),
        node_block_list=keep,
    )  # fmt: skip
    _float32_outputs(half)
    meta.update(precision="fp16", fp16_of=Path(src).name, fp16_tolerance=tol)
    for p in half.metadata_props:
        if p.key == META_KEY:
            p.value = json.dumps(meta)
    ref = OnnxModel(src, device="cpu")
    g = np.random.default_rng(0)
    if "leads" in meta:  # a 12-lead model: records of windows in mV
        x = g.normal(0, 0.3, (32, 7, *meta["inputs"]["x"][2:])).astype(np.float32)
        rr = None
    else:
        x = (g.normal(0, 0.5, (512, *meta["inputs"]["x"][1:]))).astype(np.float32)
        rr = (np.asarray(meta["rr_mean"]) + g.normal(0, 1, (512, len(meta["rr_mean"]))) * np.asarray(meta["rr_std"]))
        rr = rr.astype(np.float32)
    with atomic_path(out) as tmp:
        onnx.save(half, str(tmp))
        half_model = OnnxModel(tmp, device="cpu")
        got = half_model.run_records(x) if rr is None else half_model.run(x, rr)
        want = ref.run_records(x) if rr is None else ref.run(x, rr)
        diff = {k: float(np.abs(a - b).max()) for k, a, b in zip(("probabilities", "reconstruction"), got, want)}
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
            proto.graph.node.append(onnx.helper.make_node("Cast", [out.name + "_fp16"], [out.name],
                                                          to=onnx.TensorProto.FLOAT, name=out.name + "_to_fp32"))  # fmt: skip
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
