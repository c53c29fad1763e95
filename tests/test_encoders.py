"""Encoders by name (issue 5): each builds a multi-task model for 12-lead windows and exports to ONNX matching
torch within 1e-4."""

import logging
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from ecgmtl.models import ENCODERS, ModelConfig, build_model

CASES = [
    ("resnet1d", [16, 32, 64]),
    ("xresnet1d", [32, 64, 128]),
    ("transformer", [64, 64, 64]),
    ("hybrid", [32, 64, 128]),
]


class Graph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(x)
        return torch.sigmoid(out["logits"]), out["reconstruction"]


def test_every_encoder_is_registered():
    assert {"resnet1d", "xresnet1d", "transformer", "hybrid"} <= set(ENCODERS.names())


@pytest.mark.parametrize("encoder,widths", CASES)
def test_encoder_trains_a_step_and_exports_to_onnx_within_1e4(encoder, widths, tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(encoder=encoder, widths=widths, use_rr=False), 12, 0, 5)
    x = torch.randn(8, 12, 250)  # 2.5 s at 100 Hz: not a multiple of the reduction, padded inside
    out = model(x)
    assert out["logits"].shape == (8, 5) and out["reconstruction"].shape == x.shape
    loss = nn.functional.binary_cross_entropy_with_logits(
        out["logits"], torch.rand(8, 5).round()
    ) + nn.functional.mse_loss(out["reconstruction"], x)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    graph = Graph(model.eval()).eval()
    path = tmp_path / f"{encoder}.onnx"
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (x,),
            str(path),
            input_names=["x"],
            output_names=["p", "r"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
            dynamo=True,
            verbose=False,
        )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 5):
        xn = torch.randn(n, 12, 250)
        with torch.no_grad():
            want = [t.numpy() for t in graph(xn)]
        got = sess.run(None, {"x": xn.numpy()})
        for a, b in zip(want, got):
            assert np.abs(a - b).max() <= 1e-4


@pytest.mark.slow
@pytest.mark.physionet
def test_a_transformer_trains_from_the_cli_on_mitdb_beats(tmp_path, cache):
    from conftest import train_small

    res = train_small(
        tmp_path / "t",
        "106,119,209",
        "209",
        f"data.cache_dir={cache}",
        "model.encoder=transformer",
        "model.widths=[32,32]",
        pretrain=0,
        joint=1,
    )
    assert res.returncode == 0, res.stderr
    bad = train_small(tmp_path / "b", "106,119,209", "209", "model.encoder=hybrid", "model.widths=[16,30]")
    assert bad.returncode == 2 and "attention heads" in bad.stderr and not (tmp_path / "b").exists()
