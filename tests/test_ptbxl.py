"""PTB-XL as the benchmark reads it: superdiagnostic targets, strat_fold splits, crops and sliding windows."""

import numpy as np
import pytest
from conftest import DATA

from ecgmtl.data.ptbxl import (
    FOLDS,
    LEADS,
    SUPERCLASSES,
    diagnostic_classes,
    load_ptbxl,
    random_crops,
    read_table,
    sliding_windows,
)
from ecgmtl.errors import RecordError

PTBXL = DATA / "ptbxl"


@pytest.mark.physionet
def test_superdiagnostic_targets_follow_scp_statements():
    classes = diagnostic_classes(PTBXL)
    assert classes["IMI"] == "MI" and classes["NORM"] == "NORM" and classes["LVH"] == "HYP"
    assert "SR" not in classes  # a rhythm statement, not diagnostic
    recs, left = read_table(PTBXL)
    labels = {r.ecg_id: r.labels for r in recs}
    assert labels[1] == ("NORM",)  # {'NORM': 100, 'LVOLT': 0, 'SR': 0}
    assert labels[8] == ("MI",)  # {'IMI': 35, 'ABQRS': 0, 'SR': 0}: ABQRS is not diagnostic
    assert left["no_superclass"] > 0 and all(r.labels for r in recs)
    assert set(x for r in recs for x in r.labels) == set(SUPERCLASSES)


@pytest.mark.physionet
def test_strat_folds_make_the_three_splits():
    recs, left = read_table(PTBXL)
    by = {s: [r for r in recs if r.fold in f] for s, f in FOLDS.items()}
    assert sum(len(v) for v in by.values()) == len(recs)
    assert len(recs) + left["no_superclass"] + left["no_signal_files"] == 1987  # the records at hand
    assert {r.fold for r in by["val"]} == {9} and {r.fold for r in by["test"]} == {10}


@pytest.mark.physionet
def test_a_split_loads_in_millivolts_in_lead_order_and_comes_back_from_the_cache(tmp_path):
    ds = load_ptbxl(PTBXL, "test", 100, tmp_path)
    assert ds.signals.shape == (len(ds), 12, 1000) and ds.signals.dtype == np.float32
    assert ds.targets.shape == (len(ds), 5) and (ds.targets.sum(axis=1) >= 1).all()
    assert 0.05 < np.abs(ds.signals).max(axis=2).mean() < 10  # mV, not ADC units
    import wfdb

    rec = wfdb.rdrecord(str(PTBXL / "records100" / f"{ds.ecg_id[0] // 1000 * 1000:05d}" / f"{ds.ecg_id[0]:05d}_lr"))
    order = [
        rec.sig_name.index(lead) if lead in rec.sig_name else rec.sig_name.index(lead.lower().capitalize())
        for lead in LEADS
    ]
    np.testing.assert_allclose(ds.signals[0], rec.p_signal[:, order].T, atol=1e-6)
    (stored,) = tmp_path.glob("ptbxl-100-test-*/signals.npy")
    again = load_ptbxl(PTBXL, "test", 100, tmp_path)
    np.testing.assert_array_equal(again.signals, ds.signals)
    stored.write_bytes(stored.read_bytes()[:100])  # damaged: rebuilt, not trusted
    np.testing.assert_array_equal(load_ptbxl(PTBXL, "test", 100, tmp_path).targets, ds.targets)


@pytest.mark.physionet
def test_500_hz_where_the_files_exist():
    recs, left = read_table(PTBXL, 500)
    assert 0 < len(recs) <= 100 and left["no_signal_files"] > 1000
    with pytest.raises(RecordError, match="100 or 500"):
        read_table(PTBXL, 250)


def test_crops_and_sliding_windows():
    x = np.arange(2 * 12 * 1000, dtype=np.float32).reshape(2, 12, 1000)
    w = sliding_windows(x, 250, 125)
    assert w.shape == (2, 7, 12, 250)
    np.testing.assert_array_equal(w[:, -1], x[..., 750:])
    np.testing.assert_array_equal(w[:, 3], x[..., 375:625])
    assert sliding_windows(x, 300, 125).shape[1] == 7  # the last window is flush with the end
    c = random_crops(x, 250, np.random.default_rng(0))
    assert c.shape == (2, 12, 250)
    for i in range(2):
        s = int(c[i, 0, 0]) - int(x[i, 0, 0])
        np.testing.assert_array_equal(c[i], x[i, :, s : s + 250])


def test_not_a_ptbxl_folder_is_one_clear_error(tmp_path):
    with pytest.raises(RecordError, match="ptbxl_database.csv|scp_statements.csv"):
        read_table(tmp_path)
    with pytest.raises(RecordError, match="unknown PTB-XL split"):
        load_ptbxl(PTBXL, "dev")
