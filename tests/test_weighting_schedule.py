import math

import pytest
import torch

from ecgmtl.mtl.schedules import ScheduleConfig, decay, lr_factor, task_scales
from ecgmtl.mtl.weighting import WEIGHTINGS

TASKS = ("classification", "reconstruction")


def test_fixed_weighting_is_the_weighted_sum():
    w = WEIGHTINGS.get("fixed")(TASKS, weights={"classification": 1.0, "reconstruction": 0.25})
    total = w.combine({"classification": torch.tensor(2.0), "reconstruction": torch.tensor(4.0)})
    assert float(total) == pytest.approx(3.0)


def test_uncertainty_gradient_matches_closed_form():
    w = WEIGHTINGS.get("uncertainty")(TASKS)
    with torch.no_grad():
        w.log_var.copy_(torch.tensor([0.3, -0.7]))
    losses = {"classification": torch.tensor(2.0), "reconstruction": torch.tensor(0.5)}
    w.combine(losses).backward()
    # d/ds [exp(-s) L / 2 + s / 2] = -exp(-s) L / 2 + 1 / 2
    expect = [-math.exp(-0.3) * 2.0 / 2 + 0.5, -math.exp(0.7) * 0.5 / 2 + 0.5]
    assert w.log_var.grad.tolist() == pytest.approx(expect, rel=1e-6)
    # at the optimum s = log L the weight 1 / (2 sigma^2) is 1 / (2 L)
    with torch.no_grad():
        w.log_var.copy_(torch.log(torch.tensor([2.0, 0.5])))
    assert w.weights() == pytest.approx({"classification": 0.25, "reconstruction": 1.0})


def test_schedule_milestones():
    cfg = ScheduleConfig(pretrain_epochs=2, joint_epochs=5, recon_start=1.0, recon_floor=0.1, decay="cosine")
    assert task_scales(cfg, 0) == {"reconstruction": 1.0}
    assert task_scales(cfg, 1) == {"reconstruction": 1.0}
    assert task_scales(cfg, 2) == pytest.approx({"classification": 1.0, "reconstruction": 1.0})
    assert task_scales(cfg, 4)["reconstruction"] == pytest.approx(0.55)  # half way
    assert task_scales(cfg, 6)["reconstruction"] == pytest.approx(0.1)  # floor at the last epoch
    assert decay("linear", 1.0, 0.2, 0.5) == pytest.approx(0.6)
    assert decay("exp", 1.0, 0.01, 0.5) == pytest.approx(0.1)
    assert lr_factor(cfg, 1, 3, 10) == 1.0 and lr_factor(cfg, 2, 0, 10) == pytest.approx(1.0)
    assert lr_factor(cfg, 6, 10, 10) == pytest.approx(0.02)
