import dataclasses

import numpy as np
import pytest
from conftest import MITDB, ROOT

from ecgmtl.io.record import read_record, select_lead
from ecgmtl.signal.preprocess import (
    RR_FEATURES,
    PreprocessConfig,
    beat_windows,
    beats_at,
    detect_beats,
    detect_peaks,
    extract_beats,
    on_time,
    prepare_signal,
    resample,
    rr_features,
    rr_irregularity,
    trailing_quantile,
)

BEAT_SYMBOLS = set("NLRejAaJSVEFfQ/")


def test_resample_length_and_tone():
    fs_in, fs_out = 500.0, 180.0
    t = np.arange(5000) / fs_in
    y = resample(np.sin(2 * np.pi * 5 * t), fs_in, fs_out)
    assert y.shape == (1800,)
    t2 = np.arange(1800) / fs_out
    np.testing.assert_allclose(y[100:-100], np.sin(2 * np.pi * 5 * t2)[100:-100], atol=0.02)


def test_bandpass_removes_baseline_and_keeps_qrs_band():
    cfg = PreprocessConfig()
    t = np.arange(36000) / 360.0
    wander, qrs = 2.0 * np.sin(2 * np.pi * 0.1 * t), np.sin(2 * np.pi * 10 * t)
    y = prepare_signal(wander + qrs, 360.0, cfg)
    t2 = np.arange(y.shape[0]) / cfg.fs
    core = slice(1000, -1000)
    assert np.abs(y[core] - np.sin(2 * np.pi * 10 * t2)[core]).max() < 0.1


def test_rr_features_closed_form():
    peaks = np.array([0, 180, 360, 450, 720])  # at 180 Hz: RR 1, 1, 0.5 (premature), 1.5 s
    f = rr_features(peaks, 180.0, local_beats=2)
    assert f.shape == (5, len(RR_FEATURES))
    mean = 4.0 / 4
    np.testing.assert_allclose(f[3, :3], [0.5, 1.5, 0.75])  # prev, next, local mean of last 2 prev RR
    np.testing.assert_allclose(f[3, 3:6], np.array([0.5, 1.5, 0.75]) / mean)
    np.testing.assert_allclose(f[3, 6], 0.5 / 0.75)
    np.testing.assert_allclose(f[0, 0], 1.0)  # the first beat borrows its next RR


def test_rr_irregularity_ignores_isolated_ectopy_but_not_af():
    sinus = np.full(41, 1.0)
    sinus[20], sinus[21] = 0.6, 1.4  # one atrial premature beat and its pause
    np.testing.assert_allclose(rr_irregularity(sinus, half=5), 0.0, atol=1e-12)  # the median ignores it
    rng = np.random.default_rng(0)
    af = rng.uniform(0.4, 1.0, size=200)  # irregularly irregular
    irr = rr_irregularity(af, half=5)
    assert irr.shape == (200,) and np.median(irr) > 0.15
    peaks = np.cumsum(np.r_[0, (af * 180).astype(int)])
    f = rr_features(peaks, 180.0, local_beats=10, irregularity=True)
    assert f.shape == (201, len(RR_FEATURES) + 1) and np.median(f[:, -1]) > 0.15
    assert PreprocessConfig(rr_irregularity=True).rr_names[-1] == "rr_irregularity"


def test_trailing_quantile_matches_numpy_over_what_there_is():
    x = np.random.default_rng(1).uniform(0.4, 1.2, size=130)
    want = [np.quantile(x[max(0, i - 49) : i + 1], 0.85) for i in range(130)]
    np.testing.assert_allclose(trailing_quantile(x, 50, 0.85), want)
    np.testing.assert_allclose(trailing_quantile(x[:7], 50, 0.85), want[:7])  # shorter than the window


def test_rr_quantile_keeps_premature_beats_premature_when_they_are_the_majority():
    # Bigeminy-like: sinus 1.0 s, then premature beats at 0.6 s with their 1.4 s pause, premature beats the
    # most frequent interval. The mean moves towards them; the 0.85-quantile stays near the pauses.
    rr = np.r_[np.full(10, 1.0), np.tile([0.6, 1.4, 0.6], 40)]
    peaks = np.cumsum(np.r_[0, (rr * 180).astype(int)])
    early = np.flatnonzero(np.isclose(np.r_[rr[0], rr], 0.6))
    mean_ref = rr_features(peaks, 180.0, local_beats=50)
    q_ref = rr_features(peaks, 180.0, local_beats=50, quantile=0.85)
    assert np.median(mean_ref[early, 3]) > 0.6  # relative to the mean: 0.6 / 0.87
    assert np.median(q_ref[early, 3]) < 0.45  # relative to the 0.85-quantile (1.4 s)
    assert np.median(q_ref[early, 6]) < 0.45
    np.testing.assert_allclose(q_ref[:, :2], mean_ref[:, :2])  # the intervals themselves do not change


def test_windows_are_padded_at_the_edges():
    w = beat_windows(np.arange(10, dtype=np.float32), np.array([0, 9]), pre=2, post=3)
    np.testing.assert_array_equal(w, [[0, 0, 0, 1, 2], [7, 8, 9, 0, 0]])


@pytest.mark.physionet
def test_detector_finds_record_100_beats():
    """The detector's real-data threshold (wfdb-python holds its own to Se > 0.99 on record 100)."""
    cfg = PreprocessConfig()
    rec = read_record(MITDB / "100")
    peaks = detect_peaks(prepare_signal(select_lead(rec, "MLII"), rec.fs, cfg), cfg.fs)
    ref = np.array([s for s, c in zip(rec.annotation.sample, rec.annotation.symbol) if c in BEAT_SYMBOLS])
    ref = ref * cfg.fs / rec.fs
    found = np.min(np.abs(ref[:, None] - peaks[None, :]), axis=1) <= 0.15 * cfg.fs
    assert found.mean() > 0.99
    assert len(peaks) < 1.01 * len(ref)


@pytest.mark.physionet
def test_extract_beats_shapes_and_template_channel():
    cfg = PreprocessConfig(template_channel=True)
    rec = read_record(MITDB / "100")
    b = extract_beats(select_lead(rec, "MLII")[:36000], rec.fs, cfg)
    assert b.windows.shape == (len(b.peaks), 2, cfg.window) and b.rr.shape == (len(b.peaks), 7)
    np.testing.assert_allclose(b.windows[:, 1], b.windows[:, 0] - np.median(b.windows[:, 0], axis=0), atol=1e-6)
    assert np.abs(b.windows[:, 0, cfg.pre]).mean() == pytest.approx(1.0, abs=0.35)  # R amplitude scaled to ~1


@pytest.mark.physionet
@pytest.mark.parametrize("name", ["105", "203", "232"])  # noisy, irregular, pauses
def test_detector_gives_neurokit2s_peaks_exactly(name):
    import neurokit2 as nk

    from ecgmtl.io.record import read_record, select_lead
    from ecgmtl.signal.detect import gradient_qrs_peaks
    from ecgmtl.signal.preprocess import PreprocessConfig, prepare_signal

    cfg = PreprocessConfig()
    rec = read_record(MITDB / name, annotations=False)
    x = prepare_signal(select_lead(rec, "MLII"), rec.fs, cfg)
    _, info = nk.ecg_peaks(x, sampling_rate=int(cfg.fs), method="neurokit")
    assert np.array_equal(gradient_qrs_peaks(x, cfg.fs), np.asarray(info["ECG_R_Peaks"]))


@pytest.mark.physionet
def test_predict_does_not_import_neurokit2_torch_or_sklearn():  # wfdb brings pandas, unavoidably
    import subprocess
    import sys

    code = (
        "import sys; from ecgmtl.deploy.predict import predict_record; from ecgmtl.deploy.runtime import OnnxModel; "
        f"predict_record(OnnxModel(r'{ROOT / 'models' / 'mitdb-resnet1d.onnx'}', device='cpu'), r'{MITDB / '100'}'); "
        "print(sorted(m for m in ('neurokit2', 'torch', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _errors(rec, peaks: np.ndarray) -> tuple[int, int]:
    """(missed, false) detections (samples at the model rate) against a record's annotated beats, 150 ms."""
    p = peaks * rec.fs / PreprocessConfig().fs
    ref = np.array([s for s, y in zip(rec.annotation.sample, rec.annotation.symbol) if y in BEAT_SYMBOLS])
    near = np.abs(ref[:, None] - p[None, :]) <= 0.15 * rec.fs
    return int((~near.any(axis=1)).sum()), int((~near.any(axis=0)).sum())


def _detection_errors(name: str, with_searchback: bool) -> tuple[int, int]:
    """(missed, false) detections of the gradient detector on a MIT-BIH record's MLII lead."""
    from ecgmtl.signal.detect import gradient_qrs_peaks, searchback

    cfg = PreprocessConfig()
    rec = read_record(MITDB / name)
    x = prepare_signal(select_lead(rec, "MLII"), rec.fs, cfg)
    p = gradient_qrs_peaks(x, cfg.fs)
    return _errors(rec, searchback(x, cfg.fs, p) if with_searchback else p)


@pytest.mark.physionet
def test_searchback_finds_missed_beats_and_leaves_pauses_alone():
    # 207: stretches of wide beats the gradient threshold misses; 232: long sinus pauses with P waves in them
    missed, false = _detection_errors("207", False)
    missed_sb, false_sb = _detection_errors("207", True)
    assert missed_sb < missed / 2 and (false_sb - false) < (missed - missed_sb) / 2
    assert _detection_errors("232", True) == _detection_errors("232", False)


@pytest.mark.physionet
@pytest.mark.parametrize("name", ["106", "124"])
def test_relative_amplitude_floor_drops_small_false_detections(name):
    # DS1 records where the detector takes T waves or noise for beats: a peak under 0.15 of the record's median
    # R amplitude is dropped; at most one real beat goes with them
    rec = read_record(MITDB / name)
    cfg, off = PreprocessConfig(), dataclasses.replace(PreprocessConfig(), min_r_rel=0.0)
    x = prepare_signal(select_lead(rec, "MLII"), rec.fs, cfg)
    (missed, false), (missed0, false0) = _errors(rec, detect_beats(x, cfg)), _errors(rec, detect_beats(x, off))
    assert false <= false0 - 5 and missed <= missed0 + 1


@pytest.mark.physionet
def test_t_waves_taken_for_beats_are_dropped():
    # 113: tall T waves 0.32-0.37 s after the beat, a quarter of its slope, detected as beats
    from ecgmtl.signal.detect import gradient_qrs_peaks, reject_t_waves, searchback

    cfg, rec = PreprocessConfig(), read_record(MITDB / "113")
    x = prepare_signal(select_lead(rec, "MLII"), rec.fs, cfg)
    p = searchback(x, cfg.fs, gradient_qrs_peaks(x, cfg.fs))
    (missed0, false0), (missed, false) = _errors(rec, p), _errors(rec, reject_t_waves(x, cfg.fs, p))
    assert false0 >= 30 and false <= false0 - 10 and missed == missed0


@pytest.mark.physionet
def test_beats_only_the_other_lead_shows_are_added():
    # 210: wide V beats (a run of 6 among them) the MLII detector does not see; V1 does
    from ecgmtl.signal.detect import add_other_lead
    from ecgmtl.signal.preprocess import peak_amplitudes

    cfg, rec = PreprocessConfig(), read_record(MITDB / "210")
    x1, x2 = (prepare_signal(select_lead(rec, lead), rec.fs, cfg) for lead in ("MLII", "V1"))
    p1, p2 = detect_beats(x1, cfg), detect_beats(x2, cfg)
    fused = add_other_lead(p1, p2, peak_amplitudes(x2, p2, cfg.fs, cfg), cfg.fs)
    (missed0, false0), (missed, false) = _errors(rec, p1), _errors(rec, fused)
    assert missed0 >= 40 and missed <= missed0 / 4 and false <= false0 + 5


def test_on_time_beats_make_the_median_beat_when_premature_beats_are_the_majority():
    # Sinus beats after 1.4 s pauses, premature beats (at 0.6 s) the majority: the 0.75-quantile keeps the former.
    rr = np.tile([0.6, 0.6, 1.4], 30)
    peaks = np.cumsum(np.r_[0, (rr * 180).astype(int)])
    keep = on_time(peaks, 0.75)
    assert keep[1:].sum() == 30 and np.allclose(np.diff(peaks)[keep[1:]], 1.4 * 180, atol=1)
    assert on_time(peaks, 0.0).all()
    x = np.zeros(peaks[-1] + 200)
    x[peaks] = 1.0
    x[peaks[1:][~keep[1:]] - 20] = 0.3  # an early "P wave" on the premature beats only
    beats = beats_at(x, peaks, PreprocessConfig(template_channel=True, template_rr_quantile=0.75))
    cfg = PreprocessConfig()
    assert np.abs(beats.windows[keep, 1, cfg.pre - 20]).max() < 1e-6  # sinus beats: nothing sets them apart
    early = np.flatnonzero(~keep)[1:]  # (the first beat has no P wave drawn)
    assert np.abs(beats.windows[early, 1, cfg.pre - 20]).min() > 0.1  # premature beats: their P wave does
