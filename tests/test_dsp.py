"""ecgmtl.signal.dsp against the scipy functions it stands in for, on real MIT-BIH signals and at the rates
records come in; and prediction that never imports scipy.signal or scipy.ndimage (their import is most of the
start-up cost of `ecgmtl predict`)."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage as nd
import scipy.signal as ss
from conftest import MITDB, ROOT

from ecgmtl.signal import dsp


@pytest.fixture(scope="module")
def lead():
    import wfdb

    if not (MITDB / "208.hea").is_file():
        pytest.skip("MIT-BIH is not beside the repository")
    return wfdb.rdrecord(str(MITDB / "208"), sampto=200_000).p_signal[:, 0]


@pytest.mark.parametrize(
    "order, low, high, fs",
    [(2, 0.5, 40, 180), (2, 0.5, 40, 360), (3, 1, 30, 250), (1, 0.5, 45, 500), (5, 0.5, 40, 128)],
)
def test_butterworth_band_pass_is_scipys(order, low, high, fs):
    want = ss.butter(order, [low, high], btype="band", fs=fs, output="sos")
    np.testing.assert_allclose(dsp.butter_bandpass_sos(order, low, high, fs), want, rtol=1e-13, atol=1e-15)


@pytest.mark.physionet
@pytest.mark.parametrize("fs", [180.0, 360.0, 128.0])
def test_zero_phase_filter_is_scipys(lead, fs):
    sos = ss.butter(2, [0.5, min(40.0, 0.45 * fs)], btype="band", fs=fs, output="sos")
    for x in (lead, lead[:5000], lead[:40], lead[1000:1016] * 0 + 1.0):
        np.testing.assert_allclose(dsp.sosfiltfilt(sos, x), ss.sosfiltfilt(sos, x), rtol=0, atol=1e-9)
    zi = ss.sosfilt_zi(sos)
    np.testing.assert_allclose(dsp.sosfilt_zi(sos), zi, rtol=1e-12)
    np.testing.assert_allclose(dsp.sosfilt(sos, lead, zi * 0.7), ss.sosfilt(sos, lead, zi=zi * 0.7)[0], atol=1e-9)
    with pytest.raises(ValueError):
        dsp.sosfiltfilt(sos, lead[:15])  # scipy refuses it too (shorter than the padding)


@pytest.mark.physionet
@pytest.mark.parametrize("up, down", [(1, 2), (18, 25), (9, 25), (45, 32), (9, 50), (3, 2), (1, 1), (2, 4)])
def test_resampling_is_scipys(lead, up, down):
    for x in (lead, lead[:137], lead[:3]):
        np.testing.assert_allclose(dsp.resample_poly(x, up, down), ss.resample_poly(x, up, down), atol=1e-12)
    two = np.stack([lead[:9000], -lead[:9000]])
    np.testing.assert_allclose(dsp.resample_poly(two, up, down), ss.resample_poly(two, up, down, axis=-1), atol=1e-12)


@pytest.mark.physionet
@pytest.mark.parametrize("size", [1, 2, 7, 18, 135])
def test_boxcar_is_scipys(lead, size):
    g = np.abs(np.gradient(lead))
    np.testing.assert_allclose(dsp.uniform_filter1d(g, size), nd.uniform_filter1d(g, size, mode="nearest"), atol=1e-10)


def test_most_prominent_peak_is_scipys():
    rng = np.random.default_rng(0)
    for _ in range(3000):  # rounded values: plateaus and ties, the cases that differ between implementations
        x = np.round(rng.normal(size=int(rng.integers(1, 40))), 1)
        peaks, props = ss.find_peaks(x, prominence=(None, None))
        want = int(peaks[np.argmax(props["prominences"])]) if peaks.size else None
        assert dsp.most_prominent_peak(x) == want, x


@pytest.mark.parametrize("segments", [5, 60])  # under 16 one by one, else the matrix
def test_segment_peaks_are_the_scalar_ones(segments):
    rng = np.random.default_rng(segments)
    for _ in range(200):
        x = np.round(rng.normal(size=2000), 1)  # plateaus and ties
        b = np.sort(rng.choice(1990, segments, replace=False))
        e = np.minimum(b + rng.integers(0, 130, segments), 2000)  # some past the matrix's cap, some under 3
        want = [-1 if (p := dsp.most_prominent_peak(x[i:j])) is None else i + p for i, j in zip(b, e)]
        assert dsp.segment_peaks(x, b, e).tolist() == want


@pytest.mark.physionet
def test_prediction_imports_neither_scipy_signal_nor_ndimage(tmp_path):
    code = (
        "import sys\n"
        "from ecgmtl.deploy.models import default_model_path\n"
        "from ecgmtl.deploy.predict import predict_record\n"
        "from ecgmtl.deploy.runtime import OnnxModel\n"
        f"r = predict_record(OnnxModel(default_model_path(), 'cpu'), {str(MITDB / '100')!r})\n"
        "assert r['n_beats'] > 2000\n"
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.signal', 'scipy.ndimage'))))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
