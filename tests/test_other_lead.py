"""The other lead as model input (preprocess.other_lead): its channels, its training noise and dropout, and a
model trained with it predicting on two-lead and one-lead records through the CLI."""

import json

import numpy as np
import pytest
import torch
import wfdb
from conftest import MITDB, run_cli, train_small

from ecgmtl.data.paths import database_dir
from ecgmtl.io.record import other_lead, read_record, select_lead
from ecgmtl.signal.preprocess import PreprocessConfig, extract_beats, lead_windows, prepare_signal

pytestmark = pytest.mark.physionet
CFG = PreprocessConfig(template_channel=True, other_lead=True)


def _beats(name="100", n=36000, one_lead=False):
    rec = read_record(MITDB / name)
    x, x2 = select_lead(rec, "MLII")[:n], other_lead(rec, "MLII")
    return rec, extract_beats(x, rec.fs, CFG, other_mv=None if one_lead else x2[:n])


def test_the_other_leads_channels_are_built_as_the_leads_are():
    rec, b = _beats("114")  # 114 is recorded V5, MLII: the other lead is the first column
    assert rec.leads == ("V5", "MLII") and CFG.channels == 4 and b.windows.shape[1] == 4
    v5 = prepare_signal(rec.signal[:36000, 0], rec.fs, CFG)
    own, scale = lead_windows(v5, b.peaks, CFG)
    np.testing.assert_allclose(b.windows[:, 2:], own, atol=1e-6)
    np.testing.assert_allclose(b.windows[:, 3], b.windows[:, 2] - np.median(b.windows[:, 2], axis=0), atol=1e-6)
    assert scale > 0.05 and not np.allclose(b.windows[:, 2], b.windows[:, 0])
    _, alone = _beats("114", one_lead=True)
    assert np.array_equal(alone.windows[:, :2], b.windows[:, :2]) and not alone.windows[:, 2:].any()


def test_a_lead_that_is_all_nan_counts_as_no_other_lead():
    rec = read_record(MITDB / "100")
    rec.signal[:, 1] = np.nan
    assert other_lead(rec, "MLII") is None
    assert other_lead(rec, "V5") is not None  # asked for V5, MLII is the other lead


def test_the_training_loader_reads_both_leads_of_real_and_spliced_records(tmp_path):
    from ecgmtl.data.mitdb import load_beats

    db = MITDB
    one = load_beats(db, ["209", "209~s"], PreprocessConfig(template_channel=True), tmp_path)
    two = load_beats(db, ["209", "209~s"], CFG, tmp_path)
    assert two.windows.shape[1] == 4 and np.array_equal(two.windows[:, :2], one.windows)
    assert np.array_equal(two.labels, one.labels)
    for name in ("209", "209~s"):
        w = two.windows[two.record == name]
        peak = np.abs(w[:, 2, CFG.pre - 9 : CFG.pre + 10]).max(axis=1)  # V1's QRS (within 50 ms of MLII's R)
        assert np.median(peak) == pytest.approx(1.0, abs=0.2)  # over its own R amplitude


@pytest.fixture(scope="module")
def bank():
    from ecgmtl.augment.noise import NoiseBank

    return NoiseBank(database_dir(MITDB.parent, "nstdb"), CFG)


def test_each_lead_gets_its_own_channel_of_the_same_noise(bank):
    from ecgmtl.augment.noise import add_noise

    _, b = _beats()
    x = torch.from_numpy(b.windows[:64])
    one = add_noise(x[:, :2], bank, 1.0, (6.0, 6.0), CFG.pre, torch.Generator().manual_seed(0)) - x[:, :2]
    d = add_noise(x, bank, 1.0, (6.0, 6.0), CFG.pre, torch.Generator().manual_seed(0), leads=2) - x
    assert torch.allclose(d[:, :2], one, atol=1e-6)  # the lead's noise does not change with a second lead
    assert torch.allclose(d[:, 2], d[:, 3], atol=1e-6) and not torch.allclose(d[:, 0], d[:, 2], atol=1e-3)
    # the other lead's noise is sized by its own QRS, at the same SNR
    qrs = [x[:, c, CFG.pre - 8 : CFG.pre + 9] for c in (0, 2)]
    s = [(q.amax(1) - q.amin(1)) ** 2 / 8 for q in qrs]
    ratio = (d[:, 2].norm(dim=1) / d[:, 0].norm(dim=1)) ** 2 / (s[1] / s[0])
    assert 0.05 < float(ratio.median()) < 20  # the two noise channels differ in size, not by the leads' sizes
    zero = x.clone()
    zero[:, 2:] = 0
    dz = add_noise(zero, bank, 1.0, (6.0, 6.0), CFG.pre, torch.Generator().manual_seed(0), leads=2) - zero
    assert not dz[:, 2:].any()  # no lead, no noise


def test_lead_dropout_zeroes_the_other_lead_of_a_share_of_windows():
    from ecgmtl.augment.noise import drop_lead

    x = torch.randn(2000, 4, 16)
    y = drop_lead(x, 0.25, 2, torch.Generator().manual_seed(0))
    gone = (y[:, 2:] == 0).flatten(1).all(dim=1)
    assert torch.equal(y[:, :2], x[:, :2]) and torch.equal(y[~gone], x[~gone])
    assert 0.2 < float(gone.float().mean()) < 0.3


@pytest.mark.slow
def test_a_two_lead_model_predicts_two_lead_and_one_lead_records(tmp_path, cache):
    import onnx

    out = tmp_path / "two"
    res = train_small(
        out, "119,223", "223", "preprocess.other_lead=true", "data.lead_dropout=0.3", f"data.cache_dir={cache}"
    )
    assert res.returncode == 0, res.stderr
    model = tmp_path / "two.onnx"
    res = run_cli("export", out, "--out", model)
    assert res.returncode == 0, res.stderr
    dims = onnx.load(str(model)).graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == 4
    rec = wfdb.rdrecord(str(MITDB / "119"), sampto=360 * 120)
    wfdb.wrsamp("both", 360, ["mV"] * 2, rec.sig_name, rec.p_signal, fmt=["16"] * 2, write_dir=str(tmp_path))
    wfdb.wrsamp("one", 360, ["mV"], rec.sig_name[:1], rec.p_signal[:, :1], fmt=["16"], write_dir=str(tmp_path))
    docs = {}
    for name in ("both", "one"):
        res = run_cli("predict", tmp_path / f"{name}.dat", "--model", model, "--json", "--device", "cpu")
        assert res.returncode == 0, res.stderr
        docs[name] = json.loads(res.stdout)
    assert docs["both"]["n_beats"] > 100 and abs(docs["both"]["n_beats"] - docs["one"]["n_beats"]) < 10
    p = [np.array([list(b["probabilities"].values()) for b in docs[n]["beats"]]) for n in ("both", "one")]
    n = min(len(p[0]), len(p[1]))
    assert not np.allclose(p[0][:n], p[1][:n], atol=1e-4)  # the model uses the other lead where it has one


def test_the_other_lead_of_a_twelve_lead_record_is_v1():
    from conftest import DATA

    from ecgmtl.io.stream import open_leads

    src, other = open_leads(DATA / "ptbxl" / "records100" / "00000" / "00547_lr", "II")
    assert src.lead == "II" and other.lead == "V1"
    rec = read_record(MITDB / "100")
    assert other_lead(rec, "MLII") is not None and rec.leads == ("MLII", "V5")  # no V1: the first other lead
