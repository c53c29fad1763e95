"""torch.distributed training (DDP semantics, torchrun, gloo on the CPU over loopback) against one process
with the same global batch: the same parameters."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import DATA, ROOT

NUMERICS = ["model.norm=group", "model.dropout=0", "train.device=cpu", "train.threads=1", "train.precision=fp64"]
BEATS = [
    ["--config", ROOT / "configs" / "mitdb.yaml"],
    ["data.train=[101,106,119]", "data.val=[106]", "schedule.pretrain_epochs=0", "schedule.joint_epochs=1"],
]
# The 12-lead task: two crops of each record of folds 1-8 (an even count: N processes drop the epoch's last
# len % N items, as torch's DistributedSampler does), a small model, half the windows with hidden leads.
TWELVE = [
    ["--config", ROOT / "configs" / "ptbxl.yaml"],
    [
        "data.crops_per_epoch=2",
        "schedule.pretrain_epochs=0",
        "schedule.joint_epochs=1",
        "model.widths=[8,16]",
        "train.batch_size=64",
    ],
]


def torchrun(n: int, out, *sets: str, task=BEATS) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node n -m ecgmtl train ...` (a rendezvous on localhost)."""
    config, common = task
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), "-m"]
    args += ["ecgmtl", "train", "--out", str(out), "--no-progress", *map(str, config)]
    for s in [*common, *NUMERICS, *sets]:
        args += ["--set", s]
    env = {**os.environ, "ECGMTL_DATA": str(DATA), "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _state(run):
    return torch.load(run / "last.pt", weights_only=True)["train_state"]


@pytest.mark.slow
@pytest.mark.physionet
# Fixed weights under torchrun: the 12-lead test below. Here the weightings that hold state or use per-task gradients.
@pytest.mark.parametrize("weighting", ["uncertainty", "gradnorm", "pcgrad"])
def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path, cache, weighting):
    """fp64 and a batch-independent norm (group) with dropout off, so that the only differences could be
    the split itself: what is sharded, reduced and weighted. (In fp32 the summation order alone moves Adam's
    first steps by about 1e-3; batch norm statistics are per process on a CPU.)"""
    sets = [f"weighting.name={weighting}", f"data.cache_dir={cache}"]
    one, two = torchrun(1, tmp_path / "one", *sets), torchrun(2, tmp_path / "two", *sets)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = _state(tmp_path / "one"), _state(tmp_path / "two")
    diff = max((a["model"][k].double() - b["model"][k].double()).abs().max().item() for k in a["model"])
    assert diff <= 1e-5, diff
    for k, v in a["weighting"].items():  # learned task weights: the same, and the same as one process's
        assert torch.allclose(v.double(), b["weighting"][k].double(), atol=1e-5), k
    assert a["step"] == b["step"] > 10
    la = json.loads((tmp_path / "one" / "metrics.jsonl").read_text())
    lb = json.loads((tmp_path / "two" / "metrics.jsonl").read_text())
    for t, v in la["train_loss"].items():
        assert abs(v - lb["train_loss"][t]) <= 1e-8 * max(1.0, abs(v))
    # only rank 0 wrote: one JSON result on stdout, and the same files as the one-process run
    assert json.loads(two.stdout)["best_epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run["world_size"] == 2


@pytest.mark.slow
@pytest.mark.physionet
def test_the_twelve_lead_task_trains_under_torchrun_as_in_one_process(tmp_path, cache):
    """The 12-lead task (sigmoid outputs, binary cross-entropy over the global batch, lead masking drawn for the
    global batch) with 2 processes equals 1 process: the same parameters and losses."""
    runs = {n: tmp_path / f"p{n}" for n in (1, 2)}
    for n, out in runs.items():
        res = torchrun(n, out, f"data.cache_dir={cache}", task=TWELVE)
        assert res.returncode == 0, res.stderr[-2000:]
    a, b = _state(runs[1]), _state(runs[2])
    diff = max((a["model"][k].double() - b["model"][k].double()).abs().max().item() for k in a["model"])
    assert diff <= 1e-5, diff
    assert a["step"] == b["step"] > 10
    la, lb = (json.loads((r / "metrics.jsonl").read_text()) for r in runs.values())
    for t, v in la["train_loss"].items():
        assert abs(v - lb["train_loss"][t]) <= 1e-8 * max(1.0, abs(v))
    assert json.loads((runs[2] / "run.json").read_text())["world_size"] == 2


@pytest.mark.slow
def test_a_global_batch_that_does_not_divide_among_the_processes_is_refused(tmp_path, cache):
    res = torchrun(2, tmp_path / "x", "train.batch_size=255", f"data.cache_dir={cache}")
    assert res.returncode != 0
    assert "train.batch_size 255 is the global batch and must divide among 2 processes" in res.stderr
    # each process says one line and exits 2; the traceback after it is torchrun's own report of a failed child
    assert "ecgmtl/" not in res.stderr and "cli/" not in res.stderr and "exitcode: 2" in res.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.physionet
def test_memory_mapped_training_equals_in_memory_training(tmp_path, cache):
    """A dataset larger than data.memory_mb trains from the memory-mapped cache shards, batch by batch, with
    the same code and to the same parameters, bit for bit."""
    from conftest import train_small

    runs = {}
    for name, limit in (("memory", []), ("mapped", ["data.memory_mb=0"])):
        out = tmp_path / name
        res = train_small(
            out, "101,106,119", "106", f"data.cache_dir={cache}", "train.device=cpu", *limit, pretrain=1, joint=1
        )
        assert res.returncode == 0, res.stderr
        runs[name] = out
    assert json.loads((runs["mapped"] / "run.json").read_text())["memory_mapped"] is True
    assert json.loads((runs["memory"] / "run.json").read_text())["memory_mapped"] is False
    a, b = _state(runs["memory"]), _state(runs["mapped"])
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (runs["memory"] / "metrics.jsonl").read_bytes() == (runs["mapped"] / "metrics.jsonl").read_bytes()
