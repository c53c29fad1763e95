"""S-majority records spliced from a record's own S stretches (ecgmtl/augment/splice.py): the training
augmentation `data.s_splice` and the DS1 stress test of data_scripts/s_majority.py."""

from __future__ import annotations

import numpy as np
from conftest import MITDB

from ecgmtl.augment.splice import base_name, s_stretches, splice_s
from ecgmtl.data.mitdb import CLASSES, _record_beats, data_fingerprint
from ecgmtl.signal.preprocess import PreprocessConfig


def test_each_s_beat_keeps_the_beat_before_it_and_both_of_its_rr_intervals():
    peaks = np.arange(0, 2000, 100)  # a beat every 100 samples; beats 5 and 6 (a run) and 12 are S
    is_s = np.zeros(len(peaks), bool)
    is_s[[5, 6, 12]] = True
    assert s_stretches(peaks, is_s) == [(350, 650), (1050, 1250)]  # the run of two is one stretch
    signal = np.arange(2000, dtype=float)  # a ramp: the joins must not step
    x, p, v = splice_s(signal, peaks, np.arange(len(peaks)), is_s)
    d = np.diff(x)  # the second stretch starts at the level the first ended: one flat step, no jump
    assert x.shape == (500,) and d[299] == 0.0 and np.all(np.delete(d, 299) == 1.0)
    assert v.tolist() == [4, 5, 6, 11, 12] and p.tolist() == [50, 150, 250, 350, 450]
    empty = splice_s(signal, peaks, np.arange(len(peaks)), np.zeros(len(peaks), bool))
    assert empty[0].shape == (0,) and empty[1].size == 0


def test_a_spliced_mitdb_record_has_s_as_its_majority_and_its_own_fingerprint_files():
    cfg = PreprocessConfig(template_channel=True, local_rr_beats=50)
    windows, rr, labels, _ = _record_beats(MITDB, "220~s", cfg, 0)
    _, rr0, labels0, _ = _record_beats(MITDB, "220", cfg, 0)
    s = CLASSES.index("S")
    assert (labels == s).mean() > 0.5 > 0.1 > (labels0 == s).mean()
    assert (labels == s).sum() >= (labels0 == s).sum() - 2  # every S beat of 220 is kept (bar one at an end)
    assert windows.shape[0] == labels.shape[0] == rr.shape[0]
    # the S beats' RR relative to the record's mean is closer to 1 once they are the majority (as in MIT-BIH 232)
    rel = 3  # rr_prev_rel
    assert abs(1 - np.median(rr[labels == s, rel])) < abs(1 - np.median(rr0[labels0 == s, rel]))
    assert base_name("220~s") == "220" and data_fingerprint(MITDB, ["220~s"]) != data_fingerprint(MITDB, ["220"])
