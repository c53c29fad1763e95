"""Quality gating (flat, saturated, NaN, noisy segments), temperature scaling, and the noise-stress check:
real MIT-BIH records, NSTDB noise, the shipped model."""

import json
import sys

import numpy as np
import pytest
import wfdb
from conftest import MITDB, ROOT, run_cli

from ecgmtl.deploy.calibration import calibrate, expected_calibration_error, fit_temperature
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.signal.quality import (
    NOISE_REASON,
    QualityThresholds,
    gate_beats,
    noise_index,
    saturated,
    segment_flags,
    template_correlation,
)

MODEL = ROOT / "models" / "mitdb-resnet1d.onnx"
sys.path.insert(0, str(ROOT / "data_scripts"))


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (20000, 5))
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=pi) for pi in p])
    t = fit_temperature(true_logits * 3.0, labels)  # overconfident by a factor 3
    assert t == pytest.approx(3.0, rel=0.05)
    c = calibrate(true_logits * 3.0, labels)
    assert c["nll_after"] < c["nll_before"] and c["ece_after"] < c["ece_before"]


def test_ece_of_a_perfectly_calibrated_and_of_an_overconfident_model():
    probs = np.array([[0.8, 0.2]] * 1000)
    labels = np.array([0] * 800 + [1] * 200)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 1000), labels) == pytest.approx(0.2)


@pytest.mark.physionet
def test_segment_checks_on_a_real_lead():
    rec = wfdb.rdrecord(str(MITDB / "100"), channels=[0])
    fs = 360.0
    x = rec.p_signal[: 60 * 360, 0].copy()
    x[5 * 360 : 7 * 360] = np.nan  # segment 0: missing samples
    x[10 * 360 : 20 * 360] = 0.3  # segment 1: flat
    x[22 * 360 : 24 * 360] = 5.0  # segment 2: 2 s held at the converter's top rail (the record's maximum)
    thr = QualityThresholds()
    from ecgmtl.signal.preprocess import PreprocessConfig, prepare_signal

    cfg = PreprocessConfig()
    filtered = prepare_signal(x, fs, cfg)
    peaks = np.arange(int(0.5 * 180), len(filtered), 150)  # beats everywhere, so "no beat" does not fire
    segs = segment_flags(x, fs, filtered, cfg.fs, peaks, thr)
    assert "missing samples (NaN)" in segs[0]["reasons"]
    assert segs[1]["reasons"] == ["flat line"]
    assert "saturation" in segs[2]["reasons"]
    assert segs[3]["reasons"] == [] and segs[5]["reasons"] == []


def test_saturation_needs_samples_held_at_the_rail():
    x = np.sin(np.linspace(0, 20, 1000))
    assert not saturated(x).any()
    y = np.clip(x, -0.5, 0.5)
    assert saturated(y).mean() > 0.3
    assert not saturated(np.full(100, 2.0)).any()  # constant: flat, not saturated


def test_beats_in_a_noisy_segment_are_unclassified_with_the_reason():
    thr = QualityThresholds(segment_s=10.0, max_noise=0.06)
    times = np.array([1.0, 2.0, 3.0, 11.0, 12.0, 13.0, 14.0])
    noise = np.array([0.01, 0.01, 0.2, 0.1, 0.3, 0.02, np.nan])
    segs = [{"start_s": 0.0, "end_s": 10.0, "reasons": []}, {"start_s": 10.0, "end_s": 20.0, "reasons": []}]
    why = gate_beats(times, noise, segs, thr)
    assert why[:3] == [None, None, NOISE_REASON]  # 1 of 3: the segment stands
    assert why[3] == NOISE_REASON and why[5] is not None and why[6] == NOISE_REASON  # 3 of 4: all go; NaN fails
    assert segs[1]["reasons"] == ["noisy: most beats are in noise"] and segs[0]["reasons"] == []


def test_the_noise_index_sees_muscle_noise_not_a_wide_beat():
    fs, n = 180.0, 1800
    t = np.arange(n)
    x = np.zeros(n)
    peaks = np.arange(90, n - 90, 150)
    for k, p in enumerate(peaks):  # narrow beats, and every third one wide and tall (a V beat)
        width = 12.0 if k % 3 == 2 else 3.0
        x += (2.0 if k % 3 == 2 else 1.0) * np.exp(-0.5 * ((t - p) / width) ** 2)
    clean = noise_index(x, peaks, fs, 1.0)
    noisy = x + 0.1 * np.random.default_rng(0).standard_normal(n)
    assert clean.max() < 0.01 and np.median(noise_index(noisy, peaks, fs, 1.0)) > 0.06


def test_template_correlation_is_one_for_identical_beats():
    w = np.tile(np.sin(np.linspace(0, 6, 128)), (5, 1))
    assert np.allclose(template_correlation(w), 1.0)


def test_the_shipped_model_carries_calibration_and_quality_thresholds():
    meta = OnnxModel(MODEL, device="cpu").meta
    c = meta["calibration"]
    assert c["fitted"] and 0.2 < c["temperature"] < 5 and c["nll_after"] <= c["nll_before"]
    assert meta["quality"]["records"] == meta["val_records"]  # the quality block of the export


@pytest.mark.physionet
def test_noisy_segments_are_gated_and_clean_ones_are_not():
    """NSTDB muscle artifact at 0 dB (nst's SNR) on two DS2 records, in alternating minutes."""
    import noise_gating

    res = noise_gating.run(OnnxModel(MODEL, device="cpu"), ["213", "233"], "ma", 0.0)
    assert res["unclassified_share_noisy"] >= 0.5  # most beats in the noisy stretches
    assert res["unclassified_share_clean_stretches"] <= 0.05 and res["unclassified_share_no_noise"] <= 0.05


@pytest.mark.physionet
def test_a_flat_record_is_unclassified_not_forced_into_a_class(tmp_path):
    rec = wfdb.rdrecord(str(MITDB / "100"), channels=[0])
    x = rec.p_signal[: 120 * 360, 0].copy()
    x[30 * 360 : 60 * 360] = x[30 * 360]  # 30 s of lead-off
    wfdb.wrsamp(
        "flat", fs=360, units=["mV"], sig_name=["MLII"], p_signal=x[:, None], fmt=["16"], write_dir=str(tmp_path)
    )
    res = run_cli(
        "predict",
        tmp_path / "flat",
        "--model",
        MODEL,
        "--json",
        "--device",
        "cpu",
        "--plot",
        "--plot-start",
        "20",
        "--out",
        tmp_path / "out",
    )
    assert res.returncode == 0, res.stderr
    png = (tmp_path / "out" / "flat.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # the report, with the flat stretch shaded
    doc = json.loads(res.stdout)
    failed = doc["quality"]["failed_segments"]
    assert [s["start_s"] for s in failed if "flat line" in s["reasons"]] == [30.0, 40.0, 50.0]
    assert all(b["class"] == "unclassified" for b in doc["beats"] if 30.5 < b["time_s"] < 59.5)
    assert sum(b["class"] == "unclassified" for b in doc["beats"] if b["time_s"] < 29 or b["time_s"] > 61) <= 2
