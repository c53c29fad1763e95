"""Issue 5: 12-lead training, export, prediction and evaluation on real PTB-XL records, through the CLI; the
NORM-vs-diagnosis constraint; lead masking and limb-lead identities."""

import json
import shutil

import numpy as np
import pytest
import torch
import wfdb
from conftest import DATA, ROOT, run_cli

from ecgmtl.data.ptbxl import SUPERCLASSES
from ecgmtl.errors import ConfigError
from ecgmtl.metrics import bootstrap_auc, constraint_report, multilabel_report
from ecgmtl.mtl.constraints import ConstraintConfig, ExclusionProjection, check_constraints, resolve, soft_penalty
from ecgmtl.tasks.twelve_lead.leads import derive_limb_leads
from ecgmtl.tasks.twelve_lead.training import hide_leads

PTBXL = DATA / "ptbxl"
RECORD = PTBXL / "records100" / "00000" / "00009_lr"
HARD = [ConstraintConfig("probabilities", "hard", exclusive="NORM")]


def test_exclusion_projection_is_the_nearest_point_and_never_violates():
    torch.manual_seed(0)
    p = torch.rand(20000, 5)
    p[:50, 0] = 1.0  # edge cases: certain NORM, certain diagnosis
    p[50:100, 1] = 1.0
    q = ExclusionProjection(0, [1, 2, 3, 4])(p)
    rule = resolve(HARD, SUPERCLASSES, (0, 1))
    assert constraint_report(p.numpy(), None, rule)[0]["violation_rate"] > 0.5
    assert constraint_report(q.numpy(), None, rule)[0]["violation_rate"] == 0.0
    inside = (p[:, 0] + p[:, 1:].amax(1)) <= 1
    assert torch.equal(q[inside], p[inside])  # already allowed: unchanged
    for i in torch.nonzero(~inside)[:5, 0]:  # nearest point, against a dense scan of p(NORM)
        a, o = p[i, 0].double().item(), p[i, 1:].double().numpy()
        t = np.linspace(0, a, 100001)
        cost = (t - a) ** 2 + (np.maximum(o[None] - (1 - t[:, None]), 0) ** 2).sum(1)
        assert abs(t[cost.argmin()] - q[i, 0].item()) < 1e-4


def test_soft_exclusion_penalty_and_config_checks():
    rule = resolve([ConstraintConfig("probabilities", "soft", exclusive="NORM", coef=3.0)], SUPERCLASSES, (0, 1))
    p = torch.tensor([[0.9, 0.5, 0.1, 0.0, 0.0], [0.2, 0.3, 0.1, 0.0, 0.0]])
    assert soft_penalty(rule, {"probabilities": p}).item() == pytest.approx(3.0 * 0.4**2 / 2)
    with pytest.raises(ConfigError, match="softmax probabilities sum to 1"):
        check_constraints(HARD, ("N", "S", "V", "F", "Q"))
    with pytest.raises(ConfigError, match="not classes"):
        check_constraints([ConstraintConfig("probabilities", "hard", exclusive="AF")], SUPERCLASSES, multilabel=True)
    with pytest.raises(ConfigError, match="multi-label model takes"):
        check_constraints([ConstraintConfig("probabilities", "hard", upper=0.9)], SUPERCLASSES, multilabel=True)


def test_hide_leads_hides_one_to_most_leads_in_the_asked_fraction():
    torch.manual_seed(0)
    x = torch.randn(4000, 12, 50) + 5.0
    y = hide_leads(x, 0.5, 6)
    hidden = (y == 0).all(dim=2).sum(dim=1)
    assert 0.45 < (hidden > 0).float().mean() < 0.55
    assert hidden.max() == 6 and hidden[hidden > 0].min() == 1
    assert torch.equal(y[hidden == 0], x[hidden == 0])


@pytest.mark.physionet
def test_conditional_fill_is_the_regression_on_whatever_leads_are_visible():
    from ecgmtl.tasks.twelve_lead.leads import conditional_fill, conditional_fill_torch, lead_correlation

    rng = np.random.default_rng(0)
    mix = np.tril(rng.standard_normal((6, 6))) + 2 * np.eye(6)
    z = mix @ rng.standard_normal((6, 20_000))
    z = ((z - z.mean(1, keepdims=True)) / z.std(1, keepdims=True))[None]
    corr = lead_correlation(z)
    hidden = np.array([[False, True, False, True, False, False]])
    filled = conditional_fill(z, hidden, corr)
    visible = z[0][[0, 2, 4, 5]].T
    for j in (1, 3):  # each hidden lead: least squares on the visible ones
        coef = np.linalg.lstsq(visible, z[0][j], rcond=None)[0]
        assert np.abs(filled[0][j] - visible @ coef).max() < 1e-9
    assert np.array_equal(filled[0][[0, 2, 4, 5]], z[0][[0, 2, 4, 5]])
    t = conditional_fill_torch(torch.from_numpy(z), torch.from_numpy(hidden), torch.from_numpy(corr))
    assert np.abs(t.numpy() - filled).max() < 1e-9


def test_limb_leads_follow_from_any_two_by_the_identities():
    rec = wfdb.rdrecord(str(RECORD))
    leads = [n.upper() for n in rec.sig_name]
    sig = rec.p_signal.T.astype(np.float64)
    rebuilt = sig.copy()
    assert derive_limb_leads(rebuilt, leads, ["I", "III", "AVR", "AVF"]) == ["I", "III", "AVR", "AVF"]  # from II, aVL
    assert np.abs(rebuilt - sig).max() < 0.005  # mV: the files' rounding
    assert derive_limb_leads(sig.copy(), leads, ["I", "II", "III", "AVR", "AVL", "AVF"]) == []  # nothing to start from


def test_bootstrap_interval_holds_the_estimate_and_pairs_models():
    rng = np.random.default_rng(0)
    t = (rng.random((200, 3)) < 0.3).astype(float)
    p = np.clip(t * 0.3 + rng.random((200, 3)) * 0.7, 0, 1)
    b = bootstrap_auc(t, [p, p.copy()], n_boot=200)
    lo, hi = b["models"][0]["macro_auc_interval"]
    estimate = multilabel_report(t, p, ["a", "b", "c"], [0.5] * 3)["macro_auc"]
    assert lo < estimate < hi and hi - lo < 0.2
    assert b["models"][1]["macro_auc_diff_vs_first"]["interval"] == [0.0, 0.0]


@pytest.fixture(scope="module")
def ptbxl_run(tmp_path_factory, cache):
    """A small 12-lead model trained through the CLI on folds 1-8 (1 + 2 epochs, two crops per record), exported
    (about 1.5 min on 2 cores with a cold cache)."""
    out = tmp_path_factory.mktemp("ptbxl") / "run"
    res = run_cli(
        "train",
        "--config",
        ROOT / "configs" / "ptbxl.yaml",
        "--out",
        out,
        "--no-progress",
        "--set",
        "schedule.pretrain_epochs=1",
        "--set",
        "schedule.joint_epochs=2",
        "--set",
        "data.crops_per_epoch=2",
        "--set",
        "model.widths=[16,32,64]",
        "--set",
        "train.threads=2",
        "--set",
        "data.stride_s=2.5",  # 4 windows per record (7 in the recipe): less to run at validation, export, evaluate
    )
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["metric"] == "macro_auc" and 0.7 < result["best_val_macro_auc"] <= 1.0  # it learns
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["val"]["constraints"][1] == 0.0  # the hard rule, after the projection
    onnx = out / "model.onnx"
    res = run_cli("export", out, "--out", onnx)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["max_abs_diff"]["probabilities"] < 1e-4
    return onnx


def test_predict_a_ptbxl_record(ptbxl_run):
    res = run_cli("predict", f"{RECORD}.dat", "--model", ptbxl_run, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc["probabilities"]) == set(SUPERCLASSES) and set(doc["thresholds"]) == set(SUPERCLASSES)
    assert doc["constraint"]["holds"] and doc["windows"] == 4
    assert doc["diagnoses"] == [c for c in SUPERCLASSES if doc["probabilities"][c] >= doc["thresholds"][c]]
    assert all(v["status"] == "ok" and v["prd_percent"] > 0 for v in doc["reconstruction"]["per_lead"].values())


def test_missing_leads_are_refused_or_rebuilt(ptbxl_run, tmp_path):
    rec = wfdb.rdrecord(str(RECORD))
    keep = [i for i, n in enumerate(rec.sig_name) if n not in ("AVL", "V3")]
    wfdb.wrsamp(
        "partial",
        fs=rec.fs,
        units=[rec.units[i] for i in keep],
        sig_name=[rec.sig_name[i] for i in keep],
        p_signal=rec.p_signal[:, keep],
        fmt=["16"] * len(keep),
        write_dir=str(tmp_path),
    )
    res = run_cli("predict", tmp_path / "partial.dat", "--model", ptbxl_run)
    assert res.returncode == 3 and "lacks lead(s) AVL, V3" in res.stderr and "Traceback" not in res.stderr
    out = tmp_path / "out"
    res = run_cli(
        "predict", tmp_path / "partial.dat", "--model", ptbxl_run, "--reconstruct-missing", "--out", out, "--json"
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["reconstructed_leads"] == ["AVL", "V3"]
    assert doc["reconstruction"]["per_lead"]["AVL"]["method"] == "limb-lead identity"
    from ecgmtl.deploy.runtime import OnnxModel

    chosen = OnnxModel(ptbxl_run, device="cpu").meta["hidden_method"]["V3"]  # on fold 9, at export
    assert doc["reconstruction"]["per_lead"]["V3"]["method"] == chosen and chosen in ("model", "regression")
    rebuilt = wfdb.rdrecord(str(out / "partial_rebuilt"))
    assert [n.upper() for n in rebuilt.sig_name] == [
        "I",
        "II",
        "III",
        "AVR",
        "AVL",
        "AVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
    ]
    avl = rec.p_signal[:, rec.sig_name.index("AVL")]
    assert np.abs(rebuilt.p_signal[:, 4] - avl).max() < 0.005  # aVL = I - II/2, exact to the files' rounding
    assert np.isfinite(rebuilt.p_signal[:, 8]).all() and rebuilt.p_signal[:, 8].std() > 1e-3  # V3, rebuilt
    for j, name in enumerate(rec.sig_name):  # the recorded leads are written back unchanged
        if name not in ("AVL", "V3"):
            assert np.abs(rebuilt.p_signal[:, j] - rec.p_signal[:, j]).max() < 0.005, name


def test_evaluate_fold_10_with_intervals_and_hidden_leads(ptbxl_run):
    res = run_cli("evaluate", "--model", ptbxl_run, "--boot", "100", "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["split"] == "test" and rep["records"] == 252 and "not comparable" in rep["note"]
    lo, hi = rep["macro_auc_interval"]
    assert lo <= rep["macro_auc"] <= hi
    assert all(len(m["auc_interval"]) == 2 for m in rep["per_class"].values())
    hard = [c for c in rep["constraints"] if c["kind"] == "hard"]
    assert hard and all(c["violation_rate"] == 0.0 for c in hard)
    assert len(rep["hidden_lead_prd"]) == 12
    assert rep["hidden_lead_prd"]["III"]["ecgmtl"] < 1.0  # limb leads by the identities
    res = run_cli("evaluate", "--model", ptbxl_run, "--split", "DS2")
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1].startswith("ecgmtl: error:")


def test_12_lead_outputs_that_do_not_apply_are_refused(ptbxl_run, tmp_path):
    res = run_cli("predict", f"{RECORD}.dat", "--model", ptbxl_run, "--csv", "--out", tmp_path)
    assert res.returncode == 3 and "per-beat outputs" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("predict", DATA / "mitdb" / "100.dat", "--model", ptbxl_run)
    assert res.returncode == 3 and "lacks lead(s)" in res.stderr


def test_bad_ptbxl_configs_fail_in_one_line(tmp_path):
    for bad in ("data.mask_max=12", "data.rate=250", "data.stride_s=5"):
        res = run_cli("train", "--config", ROOT / "configs" / "ptbxl.yaml", "--out", tmp_path / "x", "--set", bad)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, (bad, res.stderr)


@pytest.mark.physionet
def test_shipped_12_lead_model_is_picked_from_the_lead_set(tmp_path):
    model = ROOT / "models" / "ptbxl-xresnet1d.onnx"
    if not model.is_file():
        pytest.fail("models/ptbxl-xresnet1d.onnx is missing: run data_scripts/ship_ptbxl.py")
    res = run_cli("predict", f"{RECORD}.dat", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["model"]["name"] == "ptbxl-xresnet1d" and "ptbxl" in res.stderr
    hr = PTBXL / "records500" / "00000" / "00009_hr.dat"  # the same recording at 500 Hz, resampled to 100 Hz
    res = run_cli("predict", hr, "--json")
    assert res.returncode == 0, res.stderr
    high = json.loads(res.stdout)
    assert max(abs(high["probabilities"][c] - doc["probabilities"][c]) for c in SUPERCLASSES) < 0.05
    rec = wfdb.rdrecord(str(RECORD))  # V3 missing: the shipped model rebuilds it close to the recorded one
    keep = [i for i, n in enumerate(rec.sig_name) if n != "V3"]
    wfdb.wrsamp(
        "nov3",
        fs=rec.fs,
        units=[rec.units[i] for i in keep],
        sig_name=[rec.sig_name[i] for i in keep],
        p_signal=rec.p_signal[:, keep],
        fmt=["16"] * len(keep),
        write_dir=str(tmp_path),
    )
    res = run_cli("predict", tmp_path / "nov3.dat", "--reconstruct-missing", "--out", tmp_path)
    assert res.returncode == 0, res.stderr
    v3 = wfdb.rdrecord(str(tmp_path / "nov3_rebuilt")).p_signal[:, 8]
    assert np.corrcoef(v3, rec.p_signal[:, rec.sig_name.index("V3")])[0, 1] > 0.8
    shutil.copy(DATA / "mitdb" / "100.hea", tmp_path / "100.hea")
    shutil.copy(DATA / "mitdb" / "100.dat", tmp_path / "100.dat")
    res = run_cli("predict", tmp_path / "100.dat", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["model"]["name"] == "mitdb-resnet1d"
