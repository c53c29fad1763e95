"""The exported graph's 2-D form, the FP16 variant, and the GPU training options that also run on a CPU."""

import json

import numpy as np
import onnx
import pytest
import torch
from conftest import ROOT, run_cli, train_small
from test_export import _ds2_beats
from torch import nn

from ecgmtl.config import load_config
from ecgmtl.deploy.fp16 import FP16_TOLERANCE, export_fp16
from ecgmtl.deploy.graph import Deployable
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import ConfigError
from ecgmtl.models import ModelConfig, build_model
from ecgmtl.models.conv2d import PolyphaseConv, SubPixelUpsample, as_conv2d, convertible
from ecgmtl.train.preflight import check_config


def _trained_looking(model: nn.Module) -> nn.Module:
    """Random batch-norm statistics and affine terms, so that folding them is actually exercised."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    return model.eval()


@pytest.mark.parametrize("widths", [(16, 32, 64), (8, 16), (4, 8, 16, 32)])
def test_conv2d_twin_computes_the_same_function(widths):
    model = _trained_looking(build_model(ModelConfig(widths=widths), 1, 7, 5))
    meta = {"rr_mean": [0.8] * 7, "rr_std": [0.2] * 7, "classes": list("NSVFQ"), "recon_bounds": [-9, 9]}
    one, two = Deployable(model, meta), Deployable(model, meta, conv2d=True)
    assert two.conv2d and not one.conv2d
    assert not any(isinstance(m, (nn.Conv1d, nn.ConvTranspose1d, nn.ConvTranspose2d)) for m in two.modules())
    x, rr = torch.randn(64, 1, 128), 0.8 + 0.2 * torch.randn(64, 7)
    with torch.no_grad():
        for a, b in zip(one(x, rr), two(x, rr)):
            assert a.shape == b.shape and (a - b).abs().max() <= 1e-5


def test_subpixel_upsampling_equals_the_transposed_convolution_with_bias_norm_and_relu():
    up = nn.ConvTranspose1d(6, 3, 4, stride=2, padding=1)
    bn = _trained_looking(nn.Sequential(nn.BatchNorm1d(3)))[0]
    x = torch.randn(5, 6, 20)
    with torch.no_grad():
        want = torch.relu(bn(up(x)))
        got = SubPixelUpsample(up, bn, relu=True)(x[:, :, None])[:, :, 0]
        plain = SubPixelUpsample(up)(x[:, :, None])[:, :, 0]
        assert (got - want).abs().max() <= 1e-5 and (plain - up(x)).abs().max() <= 1e-5
    assert not SubPixelUpsample.applies(nn.ConvTranspose1d(6, 3, 5, stride=2, padding=2))  # falls back to 2-D


@pytest.mark.parametrize("kernel", [1, 3, 7, 9])
def test_a_convolution_after_the_upsampling_runs_on_the_phases(kernel):
    head = _trained_looking(
        nn.Sequential(
            nn.ConvTranspose1d(6, 4, 4, stride=2, padding=1),
            nn.BatchNorm1d(4),
            nn.ReLU(),
            nn.Conv1d(4, 2, kernel, padding=kernel // 2),
        )
    )
    twin = as_conv2d(head)
    assert any(isinstance(m, PolyphaseConv) for m in twin.modules())
    x = torch.randn(3, 6, 25)
    with torch.no_grad():
        assert (twin(x[:, :, None])[:, :, 0] - head(x)).abs().max() <= 1e-5
    assert not PolyphaseConv.applies(nn.Conv1d(4, 2, 4, padding=2)) and not PolyphaseConv.applies(
        nn.Conv1d(4, 2, 3, stride=2)
    )


def test_a_module_of_unknown_shape_behaviour_keeps_the_1d_graph():
    model = build_model(ModelConfig(), 1, 7, 5)
    model.encoder.blocks.append(nn.LayerNorm(128))  # not known to be indifferent to an extra axis
    assert not convertible(model)
    assert not Deployable(
        model, {"rr_mean": [0] * 7, "rr_std": [1] * 7, "classes": list("NSVFQ"), "recon_bounds": [-1, 1]}, conv2d=True
    ).conv2d
    assert convertible(build_model(ModelConfig(sharing="soft"), 1, 7, 5))
    twin = as_conv2d(_trained_looking(build_model(ModelConfig(sharing="soft"), 1, 7, 5)))
    assert not any(isinstance(m, nn.Conv1d) for m in twin.modules())


def test_exported_graph_is_2d_without_transposed_convolutions(tiny_onnx):
    proto = onnx.load(tiny_onnx)
    ops = {n.op_type for n in proto.graph.node}
    assert "ConvTranspose" not in ops and "Conv" in ops
    weights = {i.name: len(i.dims) for i in proto.graph.initializer}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert all(weights[n.input[1]] == 4 for n in convs)
    meta = json.loads(proto.metadata_props[0].value)
    assert meta["graph"].startswith("2-D")
    channels = 2 if meta["preprocess"]["template_channel"] else 1  # the lead (and the lead minus its median beat)
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim][1:] == [channels, 128]


def test_fp16_variant_from_the_cli_agrees_with_fp32_on_ds2_beats(tiny_run, cache, tmp_path):
    out = tmp_path / "m.onnx"
    res = run_cli("export", tiny_run, "--out", out, "--no-calibrate", "--fp16")
    assert res.returncode == 0, res.stderr
    half = tmp_path / "m.fp16.onnx"
    assert half.is_file() and "FP16 vs FP32" in res.stderr
    proto = onnx.load(half)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 in and out
    conv_w = {n.input[1] for n in proto.graph.node if n.op_type == "Conv"}
    assert {i.data_type for i in proto.graph.initializer if i.name in conv_w} == {onnx.TensorProto.FLOAT16}
    m16, m32 = OnnxModel(half, device="cpu"), OnnxModel(out, device="cpu")
    assert m16.meta["precision"] == "fp16" and m16.meta["fp16_tolerance"] == FP16_TOLERANCE
    x, rr = _ds2_beats(load_config(ROOT / "configs" / "mitdb.yaml"), cache, n=512)
    (p16, r16), (p32, r32) = m16.run(x, rr), m32.run(x, rr)
    assert np.abs(p16 - p32).max() <= FP16_TOLERANCE and np.abs(r16 - r32).max() <= FP16_TOLERANCE
    assert np.abs(p16.sum(axis=1) - 1).max() <= 1e-5  # the softmax and everything after it stay fp32
    assert (p16.argmax(1) == p32.argmax(1)).mean() >= 0.99


def test_fp16_refuses_a_model_that_disagrees(tiny_onnx, tmp_path):
    with pytest.raises(Exception, match="disagrees with FP32"):
        export_fp16(tiny_onnx, tmp_path / "x.onnx", tol=1e-9)
    assert not list(tmp_path.iterdir())  # nothing written, no temporary left


def test_precision_is_checked_before_training():
    with pytest.raises(ConfigError, match="train.precision"):
        check_config(load_config(ROOT / "configs" / "mitdb.yaml", ["train.precision=half"]))


@pytest.mark.slow
@pytest.mark.physionet
def test_bf16_autocast_and_compile_train_on_cpu(tmp_path, cache):
    """The GPU options run on the CPU too (bf16 autocast, torch.compile): a short run trains and records them."""
    out = tmp_path / "bf16"
    res = train_small(
        out,
        "106,119,209",
        "209",
        f"data.cache_dir={cache}",
        "train.precision=bf16",
        "train.device=cpu",
        pretrain=0,
        joint=1,
    )
    assert res.returncode == 0, res.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["bf16_autocast"] and run["data_on_device"] and run["device"] == "cpu"
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(row["train_loss"]["classification"]) and row["val"]["accuracy"] > 0.5
