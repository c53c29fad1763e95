"""Shared fixtures: the real PhysioNet data beside the repo, and one small model trained once per session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ECGMTL_DATA", ROOT.parent / "shared" / "physionet")).resolve()
MITDB = DATA / "mitdb"
ECGMTL = [sys.executable, "-m", "ecgmtl"]


HAVE_DATA = (MITDB / "100.hea").is_file() and (DATA / "ptbxl" / "ptbxl_database.csv").is_file()
# Tests that train a model (through these fixtures) are slow; `make test-fast` leaves them out.
TRAINING_FIXTURES = {"tiny_run", "tiny_onnx", "ptbxl_run", "reference"}


def pytest_configure(config: pytest.Config) -> None:
    # One dataset cache for the whole session (per xdist worker), subprocesses included; never the user's ~/.cache.
    os.environ["ECGMTL_CACHE"] = config._ecgmtl_cache = tempfile.mkdtemp(prefix="ecgmtl-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    # The cache holds about 200 MB of beat windows: gone with the session, not left in /tmp.
    shutil.rmtree(getattr(config, "_ecgmtl_cache", ""), ignore_errors=True)


# The files that take longest (`make test` lists the slowest tests), run first: with each file on one worker
# (--dist loadfile), the last file to start should be a short one, or one worker idles while the other ends.
LONGEST_FIRST = (
    "test_twelve_lead.py",
    "test_sharing_schedules_constraints.py",
    "test_distributed.py",
    "test_faults.py",
    "test_weighting_methods.py",
    "test_cli.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked physionet are skipped, with the reason, where the data are absent; a test that uses a
    training fixture is marked slow; the longest files come first (the others keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    skip = pytest.mark.skip(reason=f"needs the PhysioNet data in {DATA} (set ECGMTL_DATA to the physionet folder)")
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.physionet)
        if not HAVE_DATA and item.get_closest_marker("physionet"):
            item.add_marker(skip)


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`ecgmtl ARGS` as a real subprocess."""
    e = {**os.environ, "ECGMTL_DATA": str(DATA), **(env or {})}
    return subprocess.run([*ECGMTL, *map(str, args)], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def cache() -> Path:
    return Path(os.environ["ECGMTL_CACHE"])


def train_small(out: Path, records: str, val: str, *sets: str, pretrain: int = 1, joint: int = 1):
    """`ecgmtl train` on a few records with the committed config, as a real subprocess."""
    args = [
        "train",
        "--config",
        ROOT / "configs" / "mitdb.yaml",
        "--out",
        out,
        "--no-progress",
        "--set",
        f"data.train=[{records}]",
        "--set",
        f"data.val=[{val}]",
        "--set",
        f"schedule.pretrain_epochs={pretrain}",
        "--set",
        f"schedule.joint_epochs={joint}",
    ]
    for s in sets:
        args += ["--set", s]
    return run_cli(*args)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    """A model trained through the CLI on 4 DS1 records (3 train, 1 validation), 1 + 1 epochs."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    res = train_small(out, "106,119,209,223", "223", f"data.cache_dir={cache}")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["best_epoch"] == 2
    return out


@pytest.fixture(scope="session")
def tiny_onnx(tiny_run: Path) -> Path:
    out = tiny_run / "model.onnx"
    res = run_cli("export", tiny_run, "--out", out)
    assert res.returncode == 0, res.stderr
    return out
