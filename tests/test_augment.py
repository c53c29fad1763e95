"""Training noise for the beat task: NSTDB's first half only, at the SNR asked for, on the lead channel."""

import numpy as np
import pytest
import torch
from conftest import MITDB

from ecgmtl.data.paths import database_dir
from ecgmtl.io.record import read_record, select_lead
from ecgmtl.signal.preprocess import PreprocessConfig, extract_beats

pytestmark = pytest.mark.physionet


@pytest.fixture(scope="module")
def bank():
    from ecgmtl.augment.noise import NoiseBank

    return NoiseBank(database_dir(MITDB.parent, "nstdb"), PreprocessConfig())


def _windows(cfg: PreprocessConfig) -> torch.Tensor:
    rec = read_record(MITDB / "100")
    beats = extract_beats(
        select_lead(rec, "MLII"), rec.fs, cfg, rec.annotation.sample[rec.annotation.symbol == "N"][:64]
    )
    return torch.from_numpy(np.concatenate([beats.windows, beats.windows], axis=1))  # two channels


def test_the_bank_holds_the_first_half_of_each_noise_record_only(bank):
    nstdb = database_dir(MITDB.parent, "nstdb")
    half_at_model_rate = read_record(nstdb / "ma", annotations=False).signal.shape[0] / 2 * 180 / 360
    assert bank.kinds == ("ma", "bw") and bank.signal.shape[0] == 4
    assert abs(bank.signal.shape[1] - half_at_model_rate) <= 2


def test_noise_follows_the_snr_and_is_the_same_on_every_channel(bank):
    from ecgmtl.augment.noise import add_noise

    cfg = PreprocessConfig()
    x = _windows(cfg)
    assert torch.equal(add_noise(x, bank, 0.0, (6.0, 6.0), cfg.pre, torch.Generator().manual_seed(0)), x)
    lo = add_noise(x, bank, 1.0, (12.0, 12.0), cfg.pre, torch.Generator().manual_seed(0)) - x
    hi = add_noise(x, bank, 1.0, (0.0, 0.0), cfg.pre, torch.Generator().manual_seed(0)) - x
    assert torch.equal(lo[:, 1], lo[:, 0])  # a template channel is the lead minus a constant: the same noise
    ratio = hi[:, 0].norm(dim=1) / lo[:, 0].norm(dim=1)  # 12 dB apart: 4x the amplitude, window by window
    assert torch.allclose(ratio, torch.full_like(ratio, 10 ** (12 / 20)), rtol=1e-3)
    assert (lo[:, 0].norm(dim=1) > 0).all()
