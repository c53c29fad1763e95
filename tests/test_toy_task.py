"""A task that lives outside ecgmtl (tests/toy_task.py, named `toy_task:ToyTask` in the config) goes through
train, export, predict and evaluate of the real CLI, with no edit to the loop, the exporter or the commands."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import wfdb
from conftest import run_cli
from toy_task import FS, N_TEST, WINDOW, wave

from ecgmtl.deploy.runtime import OnnxModel

HERE = Path(__file__).resolve().parent
# the subprocesses import toy_task from here
ENV = {"PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)}
TASK = "toy_task:ToyTask"
CONFIG = f"""\
name: toy
task: {TASK}
model: {{encoder: resnet1d, widths: [8, 16], kernel: 5}}
schedule: {{pretrain_epochs: 1, joint_epochs: 2}}
train: {{threads: 1, batch_size: 64, lr: 5.0e-3}}
"""
RECORD_S = 10  # each test record: 10 s, 7 whole windows of 1.28 s


def toy(*args) -> subprocess.CompletedProcess:
    return run_cli(*args, env=ENV, timeout=300)


def write_record(folder: Path, name: str, kind: int, seed: int) -> Path:
    """A WFDB record (mV, FS Hz) of one class's wave at a fixed frequency, with noise."""
    rng = np.random.default_rng(seed)
    n = int(RECORD_S * FS)
    x = wave(kind, n, freq=3.0, amp=1.0, phase=0.3) + rng.normal(0, 0.1, n)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=FS, units=["mV"], sig_name=["toy"], p_signal=x[:, None], fmt=["16"], write_dir=str(folder))
    return folder / f"{name}.dat"


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """The toy task trained (1 + 2 epochs) and exported through the CLI: (run folder, train JSON, export JSON)."""
    tmp = tmp_path_factory.mktemp("toy")
    cfg, run = tmp / "cfg.yaml", tmp / "RUN"
    cfg.write_text(CONFIG)
    res = toy("train", "--config", cfg, "--out", run, "--no-progress")
    assert res.returncode == 0, res.stderr
    trained = json.loads(res.stdout)
    res = toy("export", run, "--out", run / "model.onnx", "--name", "toy")
    assert res.returncode == 0, res.stderr
    return run, trained, json.loads(res.stdout)


@pytest.mark.slow
def test_train_and_export(toy_run):
    run, trained, exported = toy_run
    assert trained["metric"] == "macro_f1" and trained["best_epoch"] in (2, 3)
    assert trained["best_val_macro_f1"] >= 0.8
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in rows] == ["pretrain", "joint", "joint"]
    assert set(rows[-1]["val"]) == {"accuracy", "macro_f1", "prd", "constraints"}
    assert set(rows[-1]["val_per_class"]) == {"sine", "square"}
    assert f"task: {TASK}" in (run / "config.yaml").read_text()
    assert len(json.loads((run / "run.json").read_text())["data_fingerprint"]) == 16
    assert exported["path"] == str(run / "model.onnx")
    assert max(exported["max_abs_diff"].values()) <= exported["tolerance"]
    meta = OnnxModel(run / "model.onnx", device="cpu").meta
    assert meta["task"] == TASK and meta["name"] == "toy"
    assert meta["classes"] == ["sine", "square"]
    assert (meta["fs"], meta["window"], meta["inputs"]["x"]) == (FS, WINDOW, ["batch", 1, WINDOW])
    assert meta["epochs"] == 3 and meta["val"]["macro_f1"] == pytest.approx(trained["best_val_macro_f1"])


@pytest.mark.slow
def test_predict_one_record(toy_run, tmp_path: Path):
    run, _, _ = toy_run
    rec = write_record(tmp_path, "square1", kind=1, seed=1)
    res = toy("predict", rec, "--model", run / "model.onnx", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["model"] == "toy" and out["task"] == TASK
    assert out["record"]["name"] == "square1" and out["record"]["fs"] == FS
    assert out["n_windows"] == len(out["windows"]) == RECORD_S * FS // WINDOW
    assert out["class"] == "square" and out["summary"]["square"] >= 0.8 * out["n_windows"]
    for w in out["windows"]:
        assert sum(w["p"].values()) == pytest.approx(1.0, abs=1e-5)
    # per-record files are not the toy task's: the base Task refuses them in one line (exit 3)
    res = toy("predict", rec, "--model", run / "model.onnx", "--csv", "--out", tmp_path)
    assert res.returncode == 3 and "--csv: not written by toy" in res.stderr, res.stderr


@pytest.mark.slow
def test_predict_folder(toy_run, tmp_path: Path):
    """Several records: one line each (format_prediction) and summary.csv (summary_csv); both classes found."""
    run, _, _ = toy_run
    write_record(tmp_path / "recs", "sine1", kind=0, seed=2)
    write_record(tmp_path / "recs", "square2", kind=1, seed=3)
    res = toy("predict", tmp_path / "recs", "--model", run / "model.onnx", "--out", tmp_path, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "sine1: sine (" in res.stdout and "square2: square (" in res.stdout, res.stdout
    rows = {r["record"]: r for r in csv.DictReader((tmp_path / "summary.csv").open())}
    assert set(rows) == {"sine1", "square2"}
    assert rows["sine1"]["class"] == "sine" and int(rows["sine1"]["sine"]) >= 6
    assert rows["square2"]["class"] == "square" and int(rows["square2"]["square"]) >= 6
    assert all(r["status"] == "ok" for r in rows.values())


@pytest.mark.slow
def test_evaluate(toy_run):
    run, _, _ = toy_run
    res = toy("evaluate", "--model", run / "model.onnx", "--json")
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["model"] == "toy" and rep["split"] == "test" and rep["n"] == N_TEST
    assert rep["accuracy"] >= 0.8 and rep["macro_f1"] >= 0.8
    assert {c: m["support"] for c, m in rep["per_class"].items()} == {"sine": N_TEST // 2, "square": N_TEST // 2}
    assert rep["probabilities_sum_max_error"] < 1e-5
    hard = [c for c in rep["constraints"] if c["in_graph"]]
    assert hard and all(c["violation_rate"] == 0.0 for c in hard)
    # what the toy task has no use for is refused in one line (exit 2)
    res = toy("evaluate", "--model", run / "model.onnx", "--split", "DS2")
    assert res.returncode == 2 and "synthetic test split" in res.stderr, res.stderr
