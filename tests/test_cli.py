"""The CLI as a real subprocess and through typer's CliRunner."""

import json
import shutil

import numpy as np
import pytest
import wfdb
from conftest import DATA, MITDB, run_cli, train_small
from typer.testing import CliRunner

from ecgmtl.cli.main import app


def _one_clean_line(res):
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("ecgmtl: model ")]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr and lines[0].startswith("ecgmtl: error: ")
    return lines[0]


def _copy_record(name, dst, new):
    hea = (MITDB / f"{name}.hea").read_text().replace(name, new, 1)
    hea = hea.replace(f"{name}.dat", f"{new}.dat")
    (dst / f"{new}.hea").write_text(hea)
    shutil.copy(MITDB / f"{name}.dat", dst / f"{new}.dat")


def _broken(kind, d):
    """Build one broken record in folder d from real record 100; return the path to give predict."""
    if kind == "missing header":
        shutil.copy(MITDB / "100.dat", d / "x.dat")
    elif kind == "missing signal file":
        _copy_record("100", d, "x")
        (d / "x.dat").unlink()
    elif kind == "truncated signal file":
        _copy_record("100", d, "x")
        (d / "x.dat").write_bytes((MITDB / "100.dat").read_bytes()[:30000])
    elif kind == "header that does not parse":
        (d / "x.hea").write_text("x 2 360 650000\nthis line is not a signal specification\n")
        shutil.copy(MITDB / "100.dat", d / "x.dat")
    elif kind == "empty header":
        (d / "x.hea").write_text("")
        shutil.copy(MITDB / "100.dat", d / "x.dat")
    elif kind == "all-NaN lead":
        digital = np.random.default_rng(0).integers(-300, 300, (7200, 2)).astype(np.int16)
        digital[:, 0] = -32768  # format 16's invalid-sample value: NaN in p_signal
        wfdb.wrsamp(
            "x",
            fs=360,
            units=["mV", "mV"],
            sig_name=["MLII", "V1"],
            d_signal=digital,
            fmt=["16", "16"],
            adc_gain=[200.0, 200.0],
            baseline=[0, 0],
            write_dir=str(d),
        )
    elif kind == "not WFDB at all":
        (d / "x.dat").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
        (d / "x.hea").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    elif kind == "a folder":
        return d
    return d / "x.dat"


BROKEN = [
    "missing header",
    "missing signal file",
    "truncated signal file",
    "header that does not parse",
    "empty header",
    "all-NaN lead",
    "not WFDB at all",
    "a folder",
]


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_record_is_one_line_and_exit_3(kind, tmp_path, tiny_onnx):
    path = _broken(kind, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = run_cli("predict", path, "--model", tiny_onnx, "--device", "cpu")
    assert res.returncode == 3, (kind, res.stderr)
    _one_clean_line(res)
    assert res.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == before


def test_missing_model_and_bad_config_are_one_line(tmp_path):
    res = run_cli("predict", MITDB / "100.dat", "--model", tmp_path / "none.onnx")
    assert res.returncode == 3 and "no model file" in _one_clean_line(res)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: fast\n")
    res = run_cli("train", "--config", bad, "--out", tmp_path / "run")
    assert res.returncode == 2 and "train.lr" in _one_clean_line(res)
    assert not (tmp_path / "run").exists()


def test_download_offline_is_one_line(tmp_path):
    # A proxy on a closed loopback port stands in for no network: nothing leaves the machine.
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    res = run_cli("data", "download", "mitdb", "--data-dir", tmp_path, env=env, timeout=120)
    assert res.returncode == 3 and "offline" in _one_clean_line(res)
    res = run_cli("data", "download", "nosuchdb", "--data-dir", tmp_path)
    assert res.returncode == 3 and "unknown database" in _one_clean_line(res)


def test_train_run_folder_is_self_describing(tiny_run):
    rows = [json.loads(ln) for ln in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in rows] == ["pretrain", "joint"]
    assert set(rows[1]["weights"]) == {"classification", "reconstruction"}
    assert (tiny_run / "config.yaml").is_file() and (tiny_run / "best.pt").is_file()
    import torch

    ck = torch.load(tiny_run / "best.pt", weights_only=True)
    for key in ("classes", "rr_mean", "recon_bounds", "code_version", "data_fingerprint", "train_records"):
        assert key in ck["meta"]
    assert ck["config"]["preprocess"]["fs"] == 180.0


def test_predict_json_with_cli_runner(tiny_onnx):
    res = CliRunner().invoke(
        app, ["predict", str(MITDB / "100.dat"), "--model", str(tiny_onnx), "--json", "--device", "cpu"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["provider"] == "CPUExecutionProvider" and doc["model"]["name"] == "model"
    assert 2200 <= doc["n_beats"] <= 2300 and sum(doc["summary"].values()) == doc["n_beats"]
    b = doc["beats"][10]
    assert set(b) == {"sample", "time_s", "class", "probabilities", "reconstruction_rmse", "quality"}
    assert sum(b["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_cuda_is_refused_clearly_without_a_gpu(tiny_onnx):
    from ecgmtl.deploy.runtime import cuda_usable

    if cuda_usable():
        pytest.skip("a GPU is usable here")
    res = run_cli("predict", MITDB / "100.dat", "--model", tiny_onnx, "--device", "cuda")
    assert res.returncode == 2 and "no usable GPU" in _one_clean_line(res)


def test_evaluate_json_on_ds2(tiny_onnx):
    res = CliRunner().invoke(
        app,
        ["evaluate", "--model", str(tiny_onnx), "--split", "DS2", "--json", "--data-dir", str(DATA), "--device", "cpu"],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["n"] == 49712 and set(rep["per_class"]) == {"N", "S", "V", "F", "Q"}
    assert [(c["output"], c["kind"], c["violation_rate"]) for c in rep["constraints"]] == [
        ("reconstruction", "hard", 0.0)
    ]
    assert rep["probabilities_sum_max_error"] <= 1e-5


def test_record_without_beats_is_reported_not_a_crash(tmp_path, tiny_onnx):
    flat = np.random.default_rng(1).normal(0, 0.005, (360 * 20, 1))  # 20 s of noise floor, mV
    wfdb.wrsamp("flat", fs=360, units=["mV"], sig_name=["MLII"], p_signal=flat, fmt=["16"], write_dir=str(tmp_path))
    res = run_cli("predict", tmp_path / "flat.dat", "--model", tiny_onnx, "--json", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["warning"] and doc["no_beat_segments"]
    assert doc["n_beats"] == 0 and doc["beats"] == [] and sum(doc["summary"].values()) == 0


def test_gap_in_a_real_record_is_reported(tmp_path, tiny_onnx):
    rec = wfdb.rdrecord(str(MITDB / "100"), sampto=360 * 60)
    x = rec.p_signal.copy()
    x[360 * 20 : 360 * 30] = 0.0  # ten seconds of flat line in the middle
    wfdb.wrsamp(
        "gap", fs=360, units=["mV", "mV"], sig_name=rec.sig_name, p_signal=x, fmt=["16", "16"], write_dir=str(tmp_path)
    )
    res = run_cli("predict", tmp_path / "gap.hea", "--model", tiny_onnx, "--json", "--device", "cpu")
    doc = json.loads(res.stdout)
    assert any(s["start_s"] <= 21 and s["end_s"] >= 29 for s in doc["no_beat_segments"]), doc["no_beat_segments"]


@pytest.mark.slow
@pytest.mark.physionet
def test_uncertainty_weighting_trains_from_the_cli(tmp_path, cache):
    out = tmp_path / "unc"
    res = train_small(out, "119,209,223", "223", "weighting.name=uncertainty")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    w = rows[-1]["weights"]
    assert w["classification"] != 0.5 and w["reconstruction"] != 0.5  # learned away from exp(0) / 2
    import torch

    assert "log_var" in torch.load(out / "best.pt", weights_only=True)["weighting_state"]
