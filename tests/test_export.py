"""The exported model against torch, on real DS2 beats, and its constraints."""

import json

import numpy as np
import onnx
import torch
from conftest import MITDB

from ecgmtl.data.mitdb import CLASSES, load_beats
from ecgmtl.deploy.graph import Deployable
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.train.checkpoint import load_checkpoint, model_from_checkpoint


def _ds2_beats(cfg, cache, n=256):
    ds = load_beats(MITDB, ["200", "232"], cfg.preprocess, cache)  # V-rich and S-rich DS2 records
    idx = np.random.default_rng(0).choice(len(ds), n, replace=False)
    return ds.windows[idx], ds.rr[idx]


def test_onnx_matches_torch_on_256_ds2_beats(tiny_run, tiny_onnx, cache):
    ck = load_checkpoint(tiny_run)
    model, cfg = model_from_checkpoint(ck)
    meta = ck["meta"]
    onnx_model = OnnxModel(tiny_onnx, device="cpu")
    wrapper = Deployable(model, {**meta, "calibration": onnx_model.meta["calibration"]}).eval()  # T fitted at export
    assert onnx_model.meta["calibration"]["fitted"] and onnx_model.meta["calibration"]["temperature"] != 1.0
    x, rr = _ds2_beats(cfg, cache)
    with torch.no_grad():
        p_t, r_t = (t.numpy() for t in wrapper(torch.from_numpy(x), torch.from_numpy(rr)))
    p_o, r_o = onnx_model.run(x, rr)
    assert np.abs(p_t - p_o).max() <= 1e-4
    assert np.abs(r_t - r_o).max() <= 1e-4
    assert np.abs(p_o.sum(axis=1) - 1).max() <= 1e-5 and (p_o >= 0).all()
    lo, hi = meta["recon_bounds"]
    assert r_o.min() >= lo and r_o.max() <= hi


def test_reconstruction_bound_is_a_clip_in_the_graph_and_holds_on_extreme_input(tiny_onnx):
    m = OnnxModel(tiny_onnx, device="cpu")
    proto = onnx.load(tiny_onnx)
    assert "Clip" in {n.op_type for n in proto.graph.node} or any(
        n.op_type == "Clip" for f in proto.functions for n in f.node
    )
    (b,) = [c for c in m.meta["constraints"] if c["output"] == "reconstruction" and c["kind"] == "hard"]
    _, channels, window = m.meta["inputs"]["x"]
    x = np.full((4, channels, window), 50.0, np.float32)
    _, r = m.run(x, np.ones((4, 7), np.float32))
    assert r.max() <= b["upper"] and r.min() >= b["lower"]


def test_metadata_describes_everything_prediction_needs(tiny_onnx):
    meta = json.loads(onnx.load(tiny_onnx).metadata_props[0].value)
    assert meta["classes"] == list(CLASSES)
    for key in ("preprocess", "rr_mean", "rr_std", "constraints", "code_version", "data_fingerprint", "train_records"):
        assert key in meta
    assert meta["preprocess"]["fs"] == 180.0 and meta["preprocess"]["lead"] == "MLII"


def test_failed_export_leaves_the_existing_file_untouched(tiny_run, tmp_path):
    import pytest

    from ecgmtl.deploy.onnx import export_onnx
    from ecgmtl.errors import ModelError

    target = tmp_path / "model.onnx"
    target.write_bytes(b"the model users already have")
    with pytest.raises(ModelError, match="disagrees"):
        export_onnx(tiny_run, target, tol=-1.0)  # a check that cannot pass
    assert target.read_bytes() == b"the model users already have"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
