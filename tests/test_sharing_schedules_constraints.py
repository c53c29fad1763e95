"""Sharing modes, alternating and per-task-step schedules, and declared output constraints: closed forms on
tiny problems, then each option trained end to end from the CLI on real MIT-BIH records."""

import json
import time

import numpy as np
import pytest
import torch
from conftest import DATA, ROOT, run_cli, train_small
from scipy.optimize import minimize

from ecgmtl.config import load_config
from ecgmtl.data.mitdb import CLASSES
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import ConfigError
from ecgmtl.models import ModelConfig, build_model
from ecgmtl.mtl.constraints import ConstraintConfig, HardProjection, SimplexBoxProjection, resolve, soft_penalty
from ecgmtl.mtl.schedules import ScheduleConfig, batch_tasks, step_groups
from ecgmtl.train.preflight import check_config

C, R = "classification", "reconstruction"


def test_simplex_box_projection_is_the_euclidean_projection():
    torch.manual_seed(0)
    q = torch.softmax(3 * torch.randn(50, 5), dim=1)
    lo, hi = [0.0, 0.05, 0.0, 0.0, 0.0], [0.85, 1.0, 1.0, 0.4, 1.0]
    p = SimplexBoxProjection(lo, hi)(q)
    assert (p >= torch.tensor(lo)).all() and (p <= torch.tensor(hi)).all()  # bounds hold exactly
    assert (p.sum(1) - 1).abs().max() < 1e-6
    for i in range(10):  # against a general-purpose solver of min |p - q|^2 on the same set
        qi = q[i].double().numpy()
        ref = minimize(
            lambda x: ((x - qi) ** 2).sum(),
            np.clip(qi, lo, hi),
            bounds=list(zip(lo, hi)),
            constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-14},
        )
        assert np.abs(ref.x - p[i].double().numpy()).max() < 1e-5
    inside = torch.tensor([[0.5, 0.1, 0.1, 0.2, 0.1]])  # already allowed: unchanged
    assert torch.allclose(SimplexBoxProjection(lo, hi)(inside), inside, atol=1e-6)


def test_hard_projection_intersects_constraints_on_the_same_output():
    cons = [
        ConstraintConfig("reconstruction", "hard", -2.0, 3.0),
        ConstraintConfig("reconstruction", "hard", -1.0, 5.0),
        ConstraintConfig("probabilities", "hard", upper=0.9, classes=["N"]),
        ConstraintConfig("probabilities", "soft", upper=0.5, classes=["N"]),
    ]
    proj = HardProjection(resolve(cons, CLASSES, (-9.0, 9.0)), len(CLASSES))
    p, r = proj(torch.tensor([[0.99, 0.01, 0.0, 0.0, 0.0]]), torch.tensor([[-4.0, 0.0, 4.0]]))
    assert r.tolist() == [[-1.0, 0.0, 3.0]]  # tightest bounds: [-1, 3]
    assert p[0, 0].item() == pytest.approx(0.9) and p.sum().item() == pytest.approx(
        1.0
    )  # the soft one is not projected


def test_one_sided_and_empty_hard_reconstruction_bounds():
    top = HardProjection(resolve([ConstraintConfig("reconstruction", "hard", upper=2.0)], CLASSES, (-9, 9)), 5)
    _, r = top(torch.full((1, 5), 0.2), torch.tensor([[-50.0, 0.0, 50.0]]))
    assert r.tolist() == [[-50.0, 0.0, 2.0]]
    with pytest.raises(ConfigError, match="leave nothing allowed"):
        HardProjection(
            resolve(
                [
                    ConstraintConfig("reconstruction", "hard", -1.0, 1.0),
                    ConstraintConfig("reconstruction", "hard", lower=2.0),
                ],
                CLASSES,
                (-9, 9),
            ),
            5,
        )


def test_soft_penalty_closed_form():
    resolved = resolve(
        [
            ConstraintConfig("reconstruction", "soft", -1.0, 1.0, coef=2.0),
            ConstraintConfig("probabilities", "soft", lower=0.2, classes=["S"], coef=3.0),
        ],
        CLASSES,
        (0, 1),
    )
    y = torch.tensor([[-3.0, 0.0, 1.5, 1.0]], requires_grad=True)
    p = torch.tensor([[0.9, 0.05, 0.05, 0.0, 0.0], [0.5, 0.3, 0.2, 0.0, 0.0]])
    total = soft_penalty(resolved, {"reconstruction": y, "probabilities": p})
    # reconstruction: 2 * mean([2^2, 0, 0.5^2, 0]) = 2.125; probabilities of S: 3 * mean([0.15^2, 0]) = 0.03375
    assert total.item() == pytest.approx(2.125 + 0.03375)
    total.backward()
    assert y.grad[0].tolist() == pytest.approx([2 * 2 * -2.0 / 4, 0.0, 2 * 2 * 0.5 / 4, 0.0])
    assert soft_penalty(resolved, {}) is None  # outputs of tasks not trained in this step are skipped


def test_sharing_modes():
    torch.manual_seed(0)
    x, rr = torch.randn(3, 1, 128), torch.randn(3, 7)
    hard = build_model(ModelConfig(sharing="hard"), 1, 7, 5)
    soft = build_model(ModelConfig(sharing="soft", soft_coef=0.5), 1, 7, 5)
    none = build_model(ModelConfig(sharing="none"), 1, 7, 5)
    assert hard.shared_parameters() and hard.last_shared_layer() is not None and hard.sharing_penalty() is None
    assert soft.shared_parameters() == [] and soft.last_shared_layer() is None
    assert soft.sharing_penalty().item() == 0.0 and soft.encoder_distance() == 0.0  # same start
    with torch.no_grad():
        next(soft.encoders[C].parameters()).add_(0.1)  # the stem convolution: 16 x 1 x 7 weights
    assert float(soft.sharing_penalty().detach()) == pytest.approx(0.5 * 112 * 0.01, rel=1e-5)
    assert none.sharing_penalty() is None
    out = none(x, rr)
    out["logits"].sum().backward()  # classification alone reaches only its own encoder
    assert all(p.grad is None for p in none.encoders[R].parameters())
    assert any(p.grad is not None for p in none.encoders[C].parameters())


def test_alternating_and_per_task_schedules():
    base = dict(pretrain_epochs=1, joint_epochs=4, decay="none")
    by_batch = ScheduleConfig(**base, alternate="batch")
    assert batch_tasks(by_batch, 0, 0) == {R: 1.0} and batch_tasks(by_batch, 0, 1) == {R: 1.0}  # pretraining
    assert [list(batch_tasks(by_batch, 1, b)) for b in range(4)] == [[C], [R], [C], [R]]
    by_epoch = ScheduleConfig(**base, alternate="epoch")
    assert [list(batch_tasks(by_epoch, e, 7)) for e in range(1, 5)] == [[C], [R], [C], [R]]
    joint = ScheduleConfig(**base)
    assert batch_tasks(joint, 2, 3) == {C: 1.0, R: 1.0}
    assert step_groups(joint, {C: 1.0, R: 0.5}) == [{C: 1.0, R: 0.5}]
    assert step_groups(ScheduleConfig(**base, step="per_task"), {C: 1.0, R: 0.5}) == [{C: 1.0}, {R: 0.5}]


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["model.sharing=partial"], "unknown model.sharing"),
        (["model.sharing=soft", "weighting.name=pcgrad"], "shared encoder"),
        (["schedule.alternate=batch", "weighting.name=gradnorm"], "both tasks' gradients"),
        (["schedule.step=together"], "unknown schedule.step"),
        (["constraints=[{output: probabilities, kind: hard, lower: 0.3}]"], "no distribution"),
        (["constraints=[{output: logits, kind: hard, upper: 1}]"], "is not an output"),
        (["constraints=[{output: probabilities, kind: soft, classes: [X], upper: 0.5}]"], "not classes"),
        (["constraints=[{output: reconstruction, kind: soft}]"], "needs a lower or an upper bound"),
        (["constraints=[{output: reconstruction, kind: hard, lower: 2, upper: 1}]"], "must be below"),
        (["weighting.name=dwa", "schedule.alternate=epoch"], "dwa compares epochs"),
    ],
)
def test_bad_options_are_refused_before_training(overrides, match):
    with pytest.raises(ConfigError, match=match):
        check_config(load_config(ROOT / "configs" / "mitdb.yaml", overrides))


def _rows(out):
    return [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]


HARD_N = "{output: probabilities, kind: hard, upper: 0.9, classes: [N]}"
SOFT_REC = "{output: reconstruction, kind: soft, lower: -1.0, upper: 1.2, coef: 10.0}"
SOFT_P = "{output: probabilities, kind: soft, lower: 0.01, classes: [S, V], coef: 5.0}"


@pytest.mark.slow
@pytest.mark.physionet
@pytest.mark.parametrize(
    "name, sets",
    [
        ("soft-sharing", ["model.sharing=soft"]),
        ("no-sharing", ["model.sharing=none"]),
        ("alternate-batch", ["schedule.alternate=batch", "weighting.name=uncertainty"]),
        ("alternate-epoch", ["schedule.alternate=epoch"]),
        ("per-task-step", ["schedule.step=per_task", "weighting.name=dwa"]),
        ("soft-constraints", [f"constraints=[{{output: reconstruction, kind: hard}}, {SOFT_REC}, {SOFT_P}]"]),
    ],
)
def test_each_option_trains_from_the_cli(name, sets, tmp_path):
    out = tmp_path / name
    res = train_small(out, "119,223", "223", *sets, joint=2)
    assert res.returncode == 0, res.stderr
    rows = _rows(out)
    assert [r["phase"] for r in rows] == ["pretrain", "joint", "joint"] and all(r["skipped_steps"] == 0 for r in rows)
    assert rows[-1]["val"]["accuracy"] > 0.5
    if name == "soft-sharing":
        assert 0 < rows[-1]["encoder_distance"] and rows[-1]["penalty"] > 0
    if name == "no-sharing":
        assert rows[-1]["encoder_distance"] > 0 and "penalty" not in rows[-1]
    if name == "alternate-epoch":  # joint epochs: classification, then reconstruction
        assert set(rows[1]["train_loss"]) == {C} and set(rows[2]["train_loss"]) == {R}
    if name == "soft-constraints":
        assert rows[-1]["penalty"] > 0 and len(rows[-1]["val"]["constraints"]) == 3


@pytest.mark.slow
@pytest.mark.physionet
def test_hard_probability_bound_is_in_the_exported_graph_and_holds_on_ds2(tmp_path):
    out = tmp_path / "hard"
    res = train_small(out, "119,223", "223", f"constraints=[{{output: reconstruction, kind: hard}}, {HARD_N}]")
    assert res.returncode == 0, res.stderr
    assert run_cli("export", out, "--out", out / "m.onnx").returncode == 0
    m = OnnxModel(out / "m.onnx", device="cpu")
    x = np.random.default_rng(0).normal(0, 3, (64, *m.meta["inputs"]["x"][1:])).astype(np.float32)
    p, _ = m.run(x, np.ones((64, 7), np.float32))  # extreme inputs cannot push p(N) past its bound
    assert p[:, 0].max() <= 0.9 and np.abs(p.sum(1) - 1).max() < 1e-5
    res = run_cli(
        "evaluate", "--model", out / "m.onnx", "--split", "DS2", "--json", "--data-dir", DATA, "--device", "cpu"
    )
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert [(c["output"], c["kind"], c["violation_rate"]) for c in rep["constraints"]] == [
        ("reconstruction", "hard", 0.0),
        ("probabilities", "hard", 0.0),
    ]
    assert rep["probabilities_sum_max_error"] < 1e-5


STUDY = """
base: {base}
seeds: [0, 1]
set: ["data.train=[119,223]", "data.val=[223]", schedule.joint_epochs=1, data.test=100]
options:
  sharing: {{hard: [], none: [model.sharing=none]}}
  weighting: {{}}
grid:
  - {{sharing: [none, hard], weighting: [fixed]}}
  - {{sharing: [hard], weighting: [uncertainty]}}
report_constraints:
  - {{output: reconstruction, lower: -1.0, upper: 1.2}}
baseline: {{sharing: none}}
"""


@pytest.mark.slow
@pytest.mark.physionet
def test_study_runs_a_grid_over_seeds_writes_the_table_and_resumes(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(base=ROOT / "configs" / "mitdb.yaml"))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- study:mitdb -->\nold\n<!-- /study:mitdb -->\nend\n")
    res = run_cli("study", "--config", study, "--out", tmp_path / "s", "--readme", readme, "--no-progress")
    assert res.returncode == 0, res.stderr
    table = (tmp_path / "s" / "table.md").read_text()
    lines = [ln for ln in table.splitlines() if ln.startswith("| ")]
    assert len(lines) == 4 and lines[0].startswith("| sharing | weighting | macro F1")  # header + 3 rows
    assert "± " in lines[1] and "6 runs" in table
    assert "Δ macro F1 vs baseline" in lines[0] and lines[1].endswith("| baseline |") and "/2) |" in lines[2]
    text = readme.read_text()
    assert (
        text.startswith("intro\n") and text.endswith("end\n") and "old" not in text and "ecgmtl study --config" in text
    )
    info = json.loads((tmp_path / "s" / "study.json").read_text())
    assert info["runs"] == 6 and not info["failed"]
    assert all(r["metrics"]["macro_f1"]["std"] >= 0 for r in info["rows"])
    t0 = time.time()
    res = run_cli("study", "--config", study, "--out", tmp_path / "s", "--no-progress", "--json")  # all done already
    assert res.returncode == 0 and time.time() - t0 < 30  # nothing retrained
    again = json.loads(res.stdout)
    assert again["invocations"] == 2 and again["wall_seconds"] >= info["wall_seconds"]  # the clock adds up


@pytest.mark.parametrize(
    "text, match",
    [
        ("base: x.yaml\n", "needs 'base'"),
        ("base: missing.yaml\ngrid: [{{weighting: [fixed]}}]\n", "does not exist"),
        ("base: {base}\ngrid: [{{weighting: [nosuch]}}]\n", "unknown weighting"),
        ("base: {base}\ngrid: [{{sharing: [hard]}}]\n", "not among options"),
        ("base: {base}\nsed: [1]\ngrid: []\n", "unknown keys"),
        (
            "base: {base}\ngrid: [{{weighting: [fixed]}}]\nreport_constraints: [{{output: reconstruction, upper: 1, bogus: 2}}]\n",
            "report_constraints",
        ),
    ],
)
def test_bad_study_files_exit_2_with_one_line(text, match, tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(text.format(base=ROOT / "configs" / "mitdb.yaml"))
    res = run_cli("study", "--config", study, "--out", tmp_path / "out", "--dry-run")
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "Warning" not in ln]
    assert res.returncode == 2 and len(lines) == 1 and match in lines[0], res.stderr
    assert not (tmp_path / "out").exists()


def test_study_readme_block_is_checked_before_training(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- study:mitdb -->\n<!-- /study:mitdb -->\n<!-- study:mine -->\nold\n<!-- /study:mine -->\n")
    args = ("study", "--config", ROOT / "studies" / "mitdb-mtl.yaml", "--out", tmp_path / "out", "--dry-run")
    ok = run_cli(*args, "--readme", readme, "--readme-block", "study:mine")
    assert ok.returncode == 0 and "sharing-none" in ok.stdout + ok.stderr, ok.stderr
    bad = run_cli(*args, "--readme", readme, "--readme-block", "study:other")
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip() and "Warning" not in ln]
    assert bad.returncode != 0 and len(lines) == 1 and "study:other" in lines[0], bad.stderr
    assert "old" in readme.read_text()  # a dry run writes nothing
