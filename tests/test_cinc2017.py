"""The CinC 2017 reader on the recordings at hand: labels, headers at any depth, stratified folds, the
challenge's F1."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import DATA

from ecgmtl.data.cinc2017 import CLASSES, challenge_f1, index, read_reference, read_signal, stratified_folds
from ecgmtl.errors import RecordError

CINC = DATA / "cinc2017"
pytestmark = [pytest.mark.physionet, pytest.mark.skipif(not CINC.is_dir(), reason="no CinC 2017 data")]


def test_index_finds_every_labelled_record_with_the_challenge_labels():
    idx = index(CINC)
    assert len(idx.names) == 8228 and idx.missing == 0
    counts = np.bincount(idx.labels, minlength=4)
    assert dict(zip(CLASSES, counts.tolist())) == {"N": 4903, "A": 690, "O": 2391, "~": 244}
    x, fs = read_signal(idx.headers[0])
    assert fs == 300.0 and x.dtype == np.float32 and 9 * 300 <= len(x) <= 61 * 300
    assert 0.05 < float(np.percentile(np.abs(x), 99)) < 10  # mV, not ADC units


def test_a_nested_folder_works_and_missing_files_are_counted(tmp_path):
    names = ["A00243", "A00246", "A00250"]
    (tmp_path / "training" / "A00").mkdir(parents=True)
    for n in names[:2]:
        for ext in (".hea", ".mat"):
            shutil.copy(CINC / f"{n}{ext}", tmp_path / "training" / "A00" / f"{n}{ext}")
    (tmp_path / "REFERENCE.csv").write_text("".join(f"{n},{read_reference(CINC)[n]}\n" for n in names))
    idx = index(tmp_path)
    assert idx.names == tuple(names[:2]) and idx.missing == 1
    assert read_signal(idx.headers[1])[0].shape == read_signal(CINC / "A00246.hea")[0].shape


def test_bad_references_are_one_line(tmp_path):
    with pytest.raises(RecordError, match="no REFERENCE.csv"):
        index(tmp_path)
    (tmp_path / "REFERENCE.csv").write_text("A00001,X\n")
    with pytest.raises(RecordError, match="line 1"):
        index(tmp_path)


def test_folds_are_stratified_and_the_score_is_the_mean_f1_of_n_a_o():
    labels = index(CINC).labels
    fold = stratified_folds(labels, 5, seed=0)
    assert sorted(np.unique(fold).tolist()) == [0, 1, 2, 3, 4]
    share = np.array([np.bincount(labels[fold == f], minlength=4) / (fold == f).sum() for f in range(5)])
    assert np.ptp(share, axis=0).max() < 0.005
    y = np.array([0, 0, 1, 1, 2, 2, 3])
    s = challenge_f1(y, np.array([0, 0, 1, 2, 2, 2, 0]))
    assert s["per_class_f1"]["N"] == pytest.approx(0.8) and s["per_class_f1"]["A"] == pytest.approx(2 / 3)
    assert s["challenge_f1"] == pytest.approx((0.8 + 2 / 3 + 0.8) / 3)
