"""The rhythm task: its features, its window cut, and the shipped model through the CLI on real recordings
(a CinC 2017 strip, a CinC-style folder, a long MIT-BIH record with AF)."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import numpy as np
import pytest
from conftest import DATA, ECGMTL, MITDB, ROOT

from ecgmtl.tasks.rhythm.data import cut, window_plan
from ecgmtl.tasks.rhythm.features import NAMES, rhythm_features

CINC = DATA / "cinc2017"
MODEL = ROOT / "models" / "cinc2017-rhythm.onnx"


def test_irregular_rhythm_scores_higher_than_regular_and_few_beats_are_flagged():
    fs = 100.0
    rng = np.random.default_rng(0)
    regular = np.cumsum(np.full(40, 80))
    irregular = np.cumsum(rng.integers(45, 120, 40))
    r, i = rhythm_features(regular, fs, 30.0), rhythm_features(irregular, fs, 30.0)
    for k in ("cv_rr", "rmssd_rel", "large_drr_share", "turning_point_share"):
        j = NAMES.index(k)
        assert i[j] > r[j] + 0.1, k
    assert r[NAMES.index("mean_rr_s")] == pytest.approx(0.8)
    few = rhythm_features(np.array([10, 90]), fs, 30.0)
    assert few[NAMES.index("few_beats")] == 1.0 and few[NAMES.index("mean_rr_s")] == 30.0


def test_the_cv_table_of_some_folds_says_how_many_and_pairs_only_the_folds_it_has():
    spec = importlib.util.spec_from_file_location("rhythm_cv", ROOT / "data_scripts" / "rhythm_cv.py")
    cv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cv)

    def rep(f1, a, n=1646):
        return {"records": n, "challenge_f1": f1, "f1": {"N": 0.9, "A": a, "O": 0.8, "~": 0.6}}

    multi = {0: rep(0.84, 0.82), 1: rep(0.82, 0.78)}
    text = cv.table(multi, {0: rep(0.83, 0.80)}, seed=1)
    assert "(2 of the 5 folds, 3292 recordings held out)" in text and "seed 1" in text
    assert "0.830 [0.820, 0.840]" in text  # the median [min, max] of the challenge F1 over the two folds
    assert "| 1 | 1646 | 0.820 | 0.780 | | |" in text  # fold 1 has no rhythm-alone run
    assert "paired by fold (1 folds): challenge F1 +0.010" in text


def test_window_plan_covers_the_recording_and_pads_a_short_one():
    assert window_plan(6000, 3000, 1500).tolist() == [0, 1500, 3000]
    assert window_plan(6100, 3000, 1500).tolist() == [0, 1500, 3000, 3100]
    assert window_plan(900, 3000, 1500).tolist() == [0]
    w = cut(np.ones(900, np.float32), np.array([0]), 3000)
    assert w.shape == (1, 3000) and w[0, :900].sum() == 900 and not w[0, 900:].any()


needs_cinc = pytest.mark.skipif(not (CINC / "REFERENCE.csv").is_file(), reason="needs ../shared/physionet/cinc2017")


@pytest.mark.physionet
@needs_cinc
def test_predict_a_strip_with_the_default_model():
    out = subprocess.run([*ECGMTL, "predict", str(CINC / "A00243"), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["model"] == "cinc2017-rhythm" and res["rhythm"]["label"] in "NAO~"
    assert sum(res["rhythm"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.physionet
@needs_cinc
def test_evaluate_on_a_cinc_style_folder(tmp_path):
    lines = (CINC / "REFERENCE.csv").read_text().splitlines()
    first = {p.stem for p in sorted(CINC.glob("*.hea"))[:40]}
    picked = [x for x in lines if x.split(",")[0] in first][:12]
    for x in picked:
        for ext in (".hea", ".mat"):
            (tmp_path / f"{x.split(',')[0]}{ext}").symlink_to(CINC / f"{x.split(',')[0]}{ext}")
    (tmp_path / "REFERENCE.csv").write_text("\n".join(picked) + "\n")
    out = subprocess.run(
        [*ECGMTL, "evaluate", "--model", str(MODEL), "--data-dir", str(tmp_path), "--split", "all", "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["records"] == len(picked) and 0.0 <= rep["challenge_f1"] <= 1.0
    assert sum(map(sum, rep["confusion"])) == len(picked)
    bad = subprocess.run([*ECGMTL, "evaluate", "--model", str(MODEL), "--split", "DS2"], capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


@pytest.mark.physionet
def test_a_long_record_gets_windows_and_af_episodes():
    out = subprocess.run(
        [*ECGMTL, "predict", str(MITDB / "221"), "--model", str(MODEL), "--json"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert len(res["windows"]) == int(np.ceil(res["record"]["duration_s"] / 30))
    af = res["af"]
    assert af["burden"] > 0.5  # 221 is in AF for 97% of its 30 minutes (reference notes)
    assert af["longest"]["duration_s"] == max(e["duration_s"] for e in af["episodes"])
    refused = subprocess.run(
        [*ECGMTL, "predict", str(MITDB / "221"), "--model", str(MODEL), "--reconstruct-missing"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "Traceback" not in refused.stderr


def test_the_default_predict_of_a_long_record_gives_its_beats_and_its_rhythm():
    cmd = [*ECGMTL, "predict", str(MITDB / "221"), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "rhythm model cinc2017-rhythm" in out.stderr
    res = json.loads(out.stdout)
    assert res["model"]["name"] == "mitdb-resnet1d" and res["beats"] and res["rhythm"]["model"] == "cinc2017-rhythm"
    assert res["rhythm"]["af"]["burden"] > 0.5 and "record" not in res["rhythm"]
    text = subprocess.run(cmd[:-1], capture_output=True, text=True).stdout
    assert "AF burden" in text and "record 221" in text
    alone = subprocess.run([*cmd, "--no-companions"], capture_output=True, text=True)
    assert alone.returncode == 0 and "rhythm" not in json.loads(alone.stdout)
