import numpy as np
import pytest
import wfdb
from conftest import MITDB

from ecgmtl.errors import RecordError
from ecgmtl.io.record import read_record, select_lead


@pytest.mark.physionet
@pytest.mark.parametrize("form", ["100", "100.dat", "100.hea"])
def test_any_form_of_the_name_reads_the_same_record(form):
    rec = read_record(MITDB / form)
    assert rec.name == "100" and rec.fs == 360.0 and rec.leads == ("MLII", "V5")
    assert rec.signal.dtype == np.float32 and rec.signal.shape == (650000, 2)
    assert rec.annotation is not None and len(rec.annotation.sample) == 2274
    assert abs(float(np.median(rec.signal[:, 0]))) < 1.0  # mV, not ADC units


@pytest.mark.physionet
def test_lead_chosen_by_name_even_when_swapped():
    rec = read_record(MITDB / "114")  # V5 first, MLII second
    assert rec.leads[1] == "MLII"
    np.testing.assert_array_equal(select_lead(rec, "MLII"), rec.signal[:, 1])


@pytest.mark.physionet
def test_missing_lead_is_refused():
    rec = read_record(MITDB / "102", annotations=False)  # V5 and V2: no MLII
    with pytest.raises(RecordError, match="no lead MLII"):
        select_lead(rec, "MLII")


def test_round_trip_through_wrsamp_in_microvolts(tmp_path):
    t = np.arange(2000) / 250.0
    x = (np.sin(2 * np.pi * 1.3 * t) * 800.0)[:, None]  # uV
    wfdb.wrsamp("rt", fs=250, units=["uV"], sig_name=["II"], p_signal=x, fmt=["16"], write_dir=str(tmp_path))
    rec = read_record(tmp_path / "rt.dat")
    assert rec.fs == 250 and rec.annotation is None
    np.testing.assert_allclose(rec.signal[:, 0], x[:, 0] / 1000.0, atol=2e-3)  # converted to mV
    np.testing.assert_array_equal(select_lead(rec, "MLII"), rec.signal[:, 0])  # II is an alias of MLII
