"""Several runs exported as one model that averages them in the graph (`ecgmtl export RUN RUN ...`)."""

import numpy as np
import torch
from conftest import MITDB, run_cli

from ecgmtl.data.mitdb import load_beats
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.train.checkpoint import load_checkpoint, model_from_checkpoint


def _second_member(tiny_run, tmp_path):
    """The tiny run's checkpoint with its weights moved and another seed: a different member of one recipe."""
    ck = load_checkpoint(tiny_run)
    g = torch.Generator().manual_seed(1)
    ck["model_state"] = {
        k: v + 0.05 * torch.randn(v.shape, generator=g) * v.std() if v.is_floating_point() and v.numel() > 1 else v
        for k, v in ck["model_state"].items()
    }
    ck["config"]["train"]["seed"] = 7
    path = tmp_path / "member2.pt"
    torch.save(ck, path)
    return path


def test_ensemble_is_the_mean_of_its_members_on_real_beats(tiny_run, tiny_onnx, tmp_path, cache):
    second = _second_member(tiny_run, tmp_path)
    one = tmp_path / "second.onnx"
    both = tmp_path / "ensemble.onnx"
    assert run_cli("export", second, "--out", one).returncode == 0
    res = run_cli("export", tiny_run, second, "--out", both)
    assert res.returncode == 0, res.stderr
    assert "ensemble of 2 runs (seeds 0, 7)" in res.stderr

    _, cfg = model_from_checkpoint(load_checkpoint(tiny_run))
    ds = load_beats(MITDB, ["232"], cfg.preprocess, cache)
    x, rr = ds.windows[:512], ds.rr[:512]
    p1, r1 = OnnxModel(tiny_onnx, device="cpu").run(x, rr)
    p2, r2 = OnnxModel(one, device="cpu").run(x, rr)
    ens = OnnxModel(both, device="cpu")
    p, r = ens.run(x, rr)
    assert np.abs(p1 - p2).max() > 1e-3  # the members differ, so the test can tell a mean from a member
    assert np.abs(p - (p1 + p2) / 2).max() <= 1e-5
    assert np.abs(r - (r1 + r2) / 2).max() <= 1e-5
    assert np.abs(p.sum(axis=1) - 1).max() <= 1e-5 and (p >= 0).all()
    seeds = [m["seed"] for m in ens.meta["ensemble"]["runs"]]
    assert ens.meta["ensemble"]["members"] == 2 and seeds == [0, 7]


def test_members_that_disagree_are_refused_in_one_line(tiny_run, tmp_path):
    ck = load_checkpoint(tiny_run)
    ck["config"]["preprocess"]["pre"] = ck["config"]["preprocess"]["pre"] + 2  # another window: not one recipe
    other = tmp_path / "other.pt"
    torch.save(ck, other)
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the model users already have")
    res = run_cli("export", tiny_run, other, "--out", target, "--no-calibrate")
    assert res.returncode == 3
    assert res.stderr.strip().count("\n") == 0 and "cannot be averaged" in res.stderr
    assert target.read_bytes() == b"the model users already have"
    assert res.stdout == ""  # nothing half-written on stdout either
