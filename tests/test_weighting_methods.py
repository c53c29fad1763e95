"""Each loss-weighting method on a tiny problem whose answer is known in closed form, and each trained end to
end from the CLI on real MIT-BIH records."""

import json
import math

import pytest
import torch
from conftest import train_small

from ecgmtl.mtl.weighting import WEIGHTINGS
from ecgmtl.mtl.weighting.pcgrad import project_conflicts

TASKS = ("classification", "reconstruction")


def test_gradnorm_weights_move_toward_the_slower_task_and_sum_to_the_task_count():
    gn = WEIGHTINGS.get("gradnorm")(TASKS, alpha=1.5)
    W = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    losses = {"classification": W[0] ** 2, "reconstruction": W[1] ** 2}  # both 1, |grad_W| = 2 each
    gn.initial.copy_(torch.tensor([2.0, 1.0]))  # classification has halved its loss: the faster task
    gn.backward(losses, [W], last_shared=W)
    # G = [2, 2]; targets 2 * (r / mean r)^1.5 = [1.09, 3.08]: d sum|G - target| / dw = [+2, -2]
    assert gn.w.grad.tolist() == pytest.approx([2.0, -2.0])
    assert W.grad.tolist() == pytest.approx([2.0, 2.0])  # the model sees sum w_i L_i with w fixed
    with torch.no_grad():
        gn.w -= 0.1 * gn.w.grad
    gn.after_step()
    w = gn.weights()
    assert w["reconstruction"] > 1.0 > w["classification"]
    assert sum(w.values()) == pytest.approx(2.0)
    assert w == pytest.approx({"classification": 0.8, "reconstruction": 1.2})


def test_pcgrad_removes_the_conflicting_component():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # dot = -1: they conflict
    p1, p2 = project_conflicts([g1, g2])
    assert p1.tolist() == pytest.approx([0.5, 0.5]) and p2.tolist() == pytest.approx([0.0, 1.0])
    assert float(p1 @ g2) == pytest.approx(0.0) and float(p2 @ g1) == pytest.approx(0.0)
    a, b = project_conflicts([torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])])  # no conflict
    assert a.tolist() == [1.0, 0.0] and b.tolist() == [1.0, 1.0]
    # through the method: the shared gradient is the sum of the projected task gradients
    W = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    losses = {"classification": W @ g1, "reconstruction": W @ g2}
    WEIGHTINGS.get("pcgrad")(TASKS).backward(losses, [W])
    assert W.grad.tolist() == pytest.approx([0.5, 1.5])


def test_dwa_weights_follow_the_formula():
    dwa = WEIGHTINGS.get("dwa")(TASKS, temperature=2.0)
    assert dwa.weights() == {"classification": 1.0, "reconstruction": 1.0}
    dwa.epoch_end({"reconstruction": 5.0})  # a pretraining epoch: not both tasks, ignored
    dwa.epoch_end({"classification": 2.0, "reconstruction": 1.0})
    assert dwa.weights() == {"classification": 1.0, "reconstruction": 1.0}  # one epoch known: equal
    dwa.epoch_end({"classification": 1.0, "reconstruction": 1.0})  # r = [0.5, 1.0]
    z = math.exp(0.25) + math.exp(0.5)
    expect = {"classification": 2 * math.exp(0.25) / z, "reconstruction": 2 * math.exp(0.5) / z}
    assert dwa.weights() == pytest.approx(expect)
    total = dwa.combine({"classification": torch.tensor(3.0), "reconstruction": torch.tensor(1.0)})
    assert float(total) == pytest.approx(3 * expect["classification"] + expect["reconstruction"])
    restored = WEIGHTINGS.get("dwa")(TASKS)
    restored.load_state_dict(dwa.state_dict())  # the history travels in checkpoints
    assert restored.weights() == pytest.approx(expect)


def test_rlw_draws_positive_weights_summing_to_the_task_count_from_the_seed():
    rlw = WEIGHTINGS.get("rlw")(TASKS)
    losses = {"classification": torch.tensor(1.0), "reconstruction": torch.tensor(1.0)}
    torch.manual_seed(0)
    draws = []
    for _ in range(3):
        assert float(rlw.combine(losses)) == pytest.approx(2.0)  # sum of weights x losses of 1
        draws.append(rlw.weights())
    assert all(min(d.values()) > 0 for d in draws) and draws[0] != draws[1]
    torch.manual_seed(0)
    rlw.combine(losses)
    assert rlw.weights() == draws[0]


def test_dbmtl_balances_gradient_magnitudes_of_losses_at_different_scales():
    db = WEIGHTINGS.get("dbmtl")(TASKS)
    W = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    # grad log L: classification [2, 0], reconstruction (1000x larger loss) [0, 4]
    losses = {"classification": W[0] ** 2, "reconstruction": 1000 * W[1] ** 4}
    db.backward(losses, [W])
    assert db.weights() == pytest.approx({"classification": 2.0, "reconstruction": 1.0}, rel=1e-6)
    assert W.grad.tolist() == pytest.approx([4.0, 4.0], rel=1e-6)  # each task contributes norm 4


@pytest.mark.slow
@pytest.mark.physionet
@pytest.mark.parametrize("name", sorted(WEIGHTINGS.names()))
def test_every_weighting_trains_from_the_cli(name, tmp_path):
    out = tmp_path / name
    res = train_small(out, "119,223", "223", f"weighting.name={name}")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["phase"] == "joint" and rows[-1]["skipped_steps"] == 0
    w = rows[-1]["weights"]
    assert set(w) == set(TASKS) and all(math.isfinite(v) and v > 0 for v in w.values())
    assert rows[-1]["val"]["accuracy"] > 0.5
