"""Training that survives crashes and bad configuration, and repeats exactly (CPU, one thread)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import DATA, ROOT, run_cli

CONFIG = ROOT / "configs" / "mitdb.yaml"
SMALL = [
    "--set",
    "data.train=[119,209,220,223]",
    "--set",
    "data.val=[223]",
    "--set",
    "train.batch_size=64",
    "--set",
    "schedule.pretrain_epochs=1",
    "--set",
    "schedule.joint_epochs=2",
    "--no-progress",
]


def train_args(out: Path, *extra: str) -> list[str]:
    return ["train", "--config", str(CONFIG), "--out", str(out), *SMALL, *extra]


def final_params(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", weights_only=True)["train_state"]["model"]


def assert_same_params(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit for bit: same seed, same thread count, CPU


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "reference"
    res = run_cli(*train_args(out))
    assert res.returncode == 0, res.stderr
    return out


def _popen(args: list[str], env: dict | None = None) -> subprocess.Popen:
    e = {**os.environ, "ECGMTL_DATA": str(DATA), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "ecgmtl", *args],
        cwd=ROOT,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.physionet
def test_same_seed_same_metrics_other_seed_not(reference, tmp_path):
    again = tmp_path / "again"
    assert run_cli(*train_args(again)).returncode == 0
    assert (again / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()
    assert_same_params(final_params(again), final_params(reference))
    other = tmp_path / "other"
    assert run_cli(*train_args(other, "--seed", "7")).returncode == 0
    assert (other / "metrics.jsonl").read_bytes() != (reference / "metrics.jsonl").read_bytes()
    run = json.loads((reference / "run.json").read_text())
    assert run["seed"] == 0 and run["libraries"]["torch"] and run["data_fingerprint"]


@pytest.mark.slow
@pytest.mark.physionet
def test_sigkill_mid_epoch_and_again_mid_checkpoint_then_resume_matches_uninterrupted(reference, tmp_path):
    out = tmp_path / "killed"
    proc = _popen(train_args(out))
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 1):
        time.sleep(0.05)
    time.sleep(1.0)  # well into epoch 2 (an epoch takes several seconds here)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ck = torch.load(out / "last.pt", weights_only=True)  # what is on disk always loads
    assert ck["train_state"]["epoch"] == 1
    # Killed again, now while the resumed run writes its next checkpoint (end of epoch 2).
    again = _popen(
        ["train", "--resume", str(out), "--no-progress"], env={"ECGMTL_FAULT": "kill-before-rename:last.pt:1"}
    )
    again.wait(timeout=300)
    assert again.returncode == -signal.SIGKILL
    assert torch.load(out / "last.pt", weights_only=True)["train_state"]["epoch"] == 1
    res = run_cli("train", "--resume", out, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr
    assert_same_params(final_params(out), final_params(reference))
    assert (out / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()


@pytest.mark.slow
@pytest.mark.physionet
def test_sigkill_during_a_checkpoint_write_then_resume(reference, tmp_path):
    out = tmp_path / "killed-writing"
    # The second write of last.pt (end of epoch 2) dies after its temporary file, before the rename.
    proc = _popen(train_args(out), env={"ECGMTL_FAULT": "kill-before-rename:last.pt:2"})
    proc.wait(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert list(out.glob(".last.pt.*.tmp"))  # the interrupted write
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["train_state"]["epoch"] == 1  # the previous checkpoint, whole
    res = run_cli("train", "--resume", out, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert not list(out.glob(".*.tmp"))
    assert_same_params(final_params(out), final_params(reference))


@pytest.mark.slow
@pytest.mark.physionet
def test_nan_in_one_task_loss_is_skipped_then_stops_cleanly(tmp_path, capsys):
    from ecgmtl.config import load_config
    from ecgmtl.errors import TrainingStopped
    from ecgmtl.train.loop import Trainer

    cfg = load_config(CONFIG, [s for s in SMALL[1::2] if "=" in s] + ["train.max_nonfinite=5"])
    out = tmp_path / "nan"
    trainer = Trainer(cfg, out, progress=False)
    run_epoch = trainer.run_epoch

    def poisoned(epoch: int) -> dict:
        if epoch == 1:  # from the second epoch on, the reconstruction head outputs NaN
            trainer.model.reconstructor.register_forward_hook(lambda m, i, o: o * float("nan"))
        return run_epoch(epoch)

    trainer.run_epoch = poisoned
    with pytest.raises(TrainingStopped, match="5 steps in a row with a non-finite reconstruction loss"):
        trainer.fit()
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 5 and all("non-finite reconstruction loss; step skipped" in w for w in warnings)
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["train_state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["train_state"]["model"].values() if v.is_floating_point())
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize(
    "extra,code,says",
    [
        (["--set", "train.nope=1"], 2, "nope"),
        (["--set", "weighting.name=magic"], 2, "unknown weighting 'magic'"),
        (["--set", "train.lr=fast"], 2, "train.lr"),
        (["--set", "train.lr=-1"], 2, "train.lr is out of range"),
        (["--set", "data.val=[100]"], 2, "not in data.train"),
        (["--data-dir", "/nonexistent/physionet"], 3, "does not exist"),
        (["--set", "train.min_free_mb=1000000000"], 3, "MB free"),
    ],
)
def test_bad_configuration_stops_before_anything_is_written(tmp_path, extra, code, says):
    out = tmp_path / "run"
    res = run_cli(*train_args(out, *extra))
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in res.stderr
    assert not out.exists()


def test_data_folder_without_records(tmp_path):
    (tmp_path / "empty").mkdir()
    res = run_cli(*train_args(tmp_path / "run", "--data-dir", str(tmp_path / "empty")))
    assert res.returncode == 3 and "no mitdb records" in res.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_output_folder_that_cannot_be_written(tmp_path, where):
    if where == "under-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run"
    else:
        out = Path("/proc/ecgmtl-run")  # not writable, even for root
    res = run_cli(*train_args(out))
    assert res.returncode == 3, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "run folder" in res.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.physionet
def test_resume_with_another_config_and_reuse_of_a_run_folder_are_refused(reference):
    before = {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()}
    res = run_cli("train", "--resume", reference, "--config", CONFIG, *SMALL, "--set", "train.lr=0.1")
    assert res.returncode == 2 and "another configuration" in res.stderr and "train" in res.stderr
    res = run_cli(*train_args(reference))
    assert res.returncode == 2 and "already holds a run" in res.stderr
    assert {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()} == before


@pytest.mark.physionet
def test_altered_cache_file_is_rebuilt_not_trusted(tmp_path):
    import numpy as np
    from conftest import MITDB

    from ecgmtl.data.mitdb import load_beats
    from ecgmtl.signal.preprocess import PreprocessConfig

    cfg = PreprocessConfig()
    a = load_beats(MITDB, ["100"], cfg, tmp_path)
    (f,) = tmp_path.glob("mitdb-100-*/windows.npy")
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, one byte changed
    f.write_bytes(bytes(raw))
    b = load_beats(MITDB, ["100"], cfg, tmp_path)
    np.testing.assert_array_equal(a.windows, b.windows)
    assert (f.parent / "sha256.json").read_text() != ""
