import pytest
import torch

from ecgmtl.models import ENCODERS, ModelConfig, build_model


def test_forward_returns_each_task_with_its_shape():
    model = build_model(ModelConfig(), in_leads=2, n_rr=7, n_classes=5)
    out = model(torch.randn(8, 2, 128), torch.randn(8, 7))
    assert set(out) == {"logits", "reconstruction"}
    assert out["logits"].shape == (8, 5) and out["reconstruction"].shape == (8, 2, 128)


def test_every_parameter_gets_a_gradient():
    model = build_model(ModelConfig(), in_leads=2, n_rr=7, n_classes=5)
    out = model(torch.randn(8, 2, 128), torch.randn(8, 7))
    (out["logits"].sum() + out["reconstruction"].pow(2).sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_registry_refuses_duplicates_and_names_choices():
    import pytest

    from ecgmtl.errors import ConfigError

    with pytest.raises(ValueError):
        ENCODERS.register("resnet1d")(object)
    with pytest.raises(ConfigError, match="resnet1d"):
        ENCODERS.get("nope")


def test_rr_columns_limit_the_rr_features_the_classifier_sees():
    model = build_model(ModelConfig(rr_columns=[3, 4, 5, 6]), 1, 7, 5).eval()
    x, rr = torch.randn(4, 1, 128), torch.randn(4, 7)
    other = rr.clone()
    other[:, :3] = 100.0  # the absolute intervals (seconds) are not seen
    with torch.no_grad():
        assert torch.equal(model(x, rr)["logits"], model(x, other)["logits"])
        other[:, 3] += 1.0
        assert not torch.equal(model(x, rr)["logits"], model(x, other)["logits"])
    with pytest.raises(ValueError, match="out of range"):
        build_model(ModelConfig(rr_columns=[7]), 1, 7, 5)
