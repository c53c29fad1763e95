"""`ecgmtl predict` outputs (per-beat CSV, WFDB annotations), many records at once, and `ecgmtl doctor`:
the shipped model on real MIT-BIH records, the CLI as a real subprocess."""

import csv
import json
import shutil

import numpy as np
import pytest
import wfdb
from conftest import MITDB, ROOT, run_cli

MODEL = ROOT / "models" / "mitdb-resnet1d.onnx"


def _copy(name, dst):
    for ext in ("hea", "dat"):
        shutil.copy(MITDB / f"{name}.{ext}", dst / f"{name}.{ext}")


@pytest.mark.physionet
def test_annotation_file_reads_back_and_matches_the_json_beat_for_beat(tmp_path):
    _copy("208", tmp_path)  # many V and F beats
    out = tmp_path / "out"
    res = run_cli(
        "predict",
        tmp_path / "208.dat",
        "--model",
        MODEL,
        "--device",
        "cpu",
        "--json",
        "--csv",
        "--annotate",
        "--out",
        out,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    ann = wfdb.rdann(str(out / "208"), "ecgmtl")
    code = {"N": "N", "S": "S", "V": "V", "F": "F", "Q": "Q", "unclassified": "Q"}
    assert ann.sample.tolist() == [b["sample"] for b in doc["beats"]]
    assert ann.symbol == [code[b["class"]] for b in doc["beats"]]
    assert [a or None for a in ann.aux_note] == [b["quality"] for b in doc["beats"]]  # why a beat is unclassified
    assert ann.fs == 360 and len(ann.sample) == doc["n_beats"] > 2500
    assert {"V", "N"} <= set(ann.symbol)
    rows = list(csv.DictReader((out / "208.beats.csv").open()))
    assert len(rows) == doc["n_beats"]
    assert [int(r["sample"]) for r in rows] == [b["sample"] for b in doc["beats"]]
    assert [r["class"] for r in rows] == [b["class"] for b in doc["beats"]]
    p = np.array([[float(r[f"p_{c}"]) for c in "NSVFQ"] for r in rows])
    assert np.abs(p.sum(1) - 1).max() < 1e-3
    assert not list(out.glob(".*"))  # no temporary file left behind


@pytest.mark.physionet
def test_a_folder_of_records_with_a_broken_one(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for r in ("100", "119"):
        _copy(r, src)
    (src / "broken.hea").write_text("broken 1 360 1000\nbroken.dat 212 200 11 1024 0 0 0 MLII\n")  # no .dat
    out = tmp_path / "out"
    res = run_cli("predict", src, "--model", MODEL, "--device", "cpu", "--out", out, "--no-progress", "--json")
    assert res.returncode == 3  # some failed
    doc = json.loads(res.stdout)
    assert [r["record"]["name"] for r in doc["records"]] == ["100", "119"]
    assert [f["name"] for f in doc["failed"]] == ["broken"] and "broken" in doc["failed"][0]["error"]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["record"], r["status"]) for r in rows] == [("100", "ok"), ("119", "ok"), ("broken", "failed")]
    assert int(rows[1]["V"]) > 400  # 119 has 444 V beats
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("ecgmtl: error:")]
    assert len(errors) == 2 and "1 of 3 records failed" in errors[-1]
    assert "Traceback" not in res.stderr


def test_an_empty_folder_is_one_line_exit_3(tmp_path):
    res = run_cli("predict", tmp_path, "--model", MODEL)
    assert res.returncode == 3 and res.stderr.strip().startswith("ecgmtl: error: no WFDB record")


def test_doctor_says_what_runs_here():
    from ecgmtl.deploy.runtime import cuda_usable

    res = run_cli("doctor", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["cpu"]["provider"] == "CPUExecutionProvider" and info["versions"]["numpy"]
    assert info["cuda"]["runs"] == cuda_usable()
    if not cuda_usable():
        assert "CUDA" not in res.stderr  # CUDA was never asked for, so onnxruntime logged nothing about it
    text = run_cli("doctor").stdout
    assert "onnxruntime providers" in text and "CUDA:" in text


@pytest.mark.physionet
def test_records_with_the_same_name_in_two_folders_are_refused(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        _copy("100", tmp_path / sub)
    res = run_cli("predict", tmp_path / "a", tmp_path / "b", "--model", MODEL, "--out", tmp_path / "out")
    assert res.returncode == 2 and "several records are named 100" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.physionet
def test_a_model_of_a_task_this_version_does_not_know_is_one_line_exit_3(tmp_path):
    """A model file whose metadata names an unknown task (a newer ecgmtl's, or a plug-in that is not installed)."""
    import onnx

    proto = onnx.load(str(MODEL))
    for p in proto.metadata_props:
        if p.key == "ecgmtl":
            meta = json.loads(p.value)
            p.value = json.dumps({**meta, "task": "rhythm_of_the_future", "code_version": "9.9"})
    odd = tmp_path / "odd.onnx"
    onnx.save(proto, str(odd))
    res = run_cli("predict", MITDB / "100.dat", "--model", odd, "--json")
    assert res.returncode == 3, res.stderr
    err = res.stderr.strip().splitlines()[-1]
    assert "rhythm_of_the_future" in err and "9.9" in err and "Traceback" not in res.stderr
