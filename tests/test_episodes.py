"""Rhythm episodes from MIT-BIH's aux notes and EC57's episode and duration scores."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from conftest import MITDB

from ecgmtl.episodes import episode_scores, intervals, pooled, rhythm_episodes

AF_RECORDS = ("201", "202", "203", "210", "219", "221", "222")


def test_scores_on_hand_made_episodes():
    ref = [(0, 100), (200, 300), (500, 600)]
    found = [(50, 250), (700, 800)]
    s = episode_scores(ref, found, 1000)
    assert s["episode_se"] == pytest.approx(2 / 3) and s["episode_ppv"] == pytest.approx(1 / 2)
    assert s["duration_se"] == pytest.approx(100 / 300) and s["duration_ppv"] == pytest.approx(100 / 300)
    assert s["ref_burden"] == pytest.approx(0.3) and s["found_burden"] == pytest.approx(0.3)
    assert episode_scores([], [], 10)["episode_se"] is None
    both = pooled([s, episode_scores([(0, 10)], [(0, 10)], 10)])
    assert both["episode_se"] == pytest.approx(3 / 4) and both["duration_se"] == pytest.approx(110 / 310)
    assert intervals(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]


@pytest.mark.physionet
def test_mitbih_af_episodes_are_in_the_seven_records_and_perfect_against_themselves():
    burdens = {}
    for name in AF_RECORDS:
        ann = wfdb.rdann(str(MITDB / name), "atr")
        n = wfdb.rdheader(str(MITDB / name)).sig_len
        ep = rhythm_episodes(ann.sample, ann.aux_note, n)
        assert ep and all(0 <= s < e <= n for s, e in ep)
        assert all(ep[k][1] < ep[k + 1][0] for k in range(len(ep) - 1))  # disjoint and sorted
        s = episode_scores(ep, ep, n)
        assert s["episode_se"] == s["episode_ppv"] == s["duration_se"] == s["duration_ppv"] == 1.0
        burdens[name] = s["ref_burden"]
    assert 0.95 < burdens["221"] < 1.0 and 0.02 < burdens["222"] < 0.1
    ann = wfdb.rdann(str(MITDB / "100"), "atr")
    assert rhythm_episodes(ann.sample, ann.aux_note, 650_000) == []
