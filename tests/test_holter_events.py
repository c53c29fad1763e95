"""Holter events and HRV on synthetic beat sequences whose answers are known exactly, the agreement of HRV with
neurokit2 where the definitions agree, and one MIT-BIH record's reference annotations (bigeminy)."""

import json
import warnings

import numpy as np
import pytest
from conftest import MITDB

from ecgmtl.holter import hrv
from ecgmtl.holter.events import EventOptions, clock, ectopy, heart_rate, pauses, summarise, urgent_findings


def rep(label: str, n: int, rr: float = 1.0) -> list[tuple[str, float]]:
    """n beats of one label, each `rr` s after the beat before it."""
    return [(label, rr)] * n


def make(*chunks: list[tuple[str, float]], t0: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) and labels from (label, RR before the beat) chunks; the first beat is at t0 + its RR. The
    labels are an object array, so that a test can set any label in place."""
    beats = [b for c in chunks for b in c]
    return t0 + np.cumsum([rr for _, rr in beats]), np.array([lab for lab, _ in beats], dtype=object)


# --- ventricular ectopy -------------------------------------------------------------------------------------


def test_isolated_v_and_burden():
    t, lab = make(rep("N", 10), [("V", 0.6), ("N", 1.4)], rep("N", 10))
    e = ectopy(t, lab)
    assert (e["beats"], e["isolated"], e["couplets"], e["triplets"], e["run_count"]) == (1, 1, 0, 0, 0)
    assert e["runs"] == [] and e["bigeminy"] == [] and e["trigeminy"] == []
    assert e["burden_pct"] == pytest.approx(100 / 22)


def test_couplet():
    t, lab = make(rep("N", 10), [("V", 0.5), ("V", 0.5), ("N", 1.5)], rep("N", 5))
    e = ectopy(t, lab)
    assert (e["isolated"], e["couplets"], e["triplets"], e["run_count"]) == (0, 1, 0, 0)


def test_triplet_is_the_shortest_run():
    t, lab = make(rep("N", 10), rep("V", 3, 0.5), [("N", 1.5)], rep("N", 5))
    e = ectopy(t, lab)
    assert (e["isolated"], e["couplets"], e["triplets"], e["run_count"]) == (0, 0, 1, 1)
    assert e["runs"][0]["beats"] == 3 and e["runs"][0]["rate_bpm"] == pytest.approx(120.0)


def test_runs_rate_from_their_own_intervals_and_vt_threshold():
    # 5 V at 0.4 s (150 bpm) after a 0.5-s coupling interval, which is not part of the run's rate; later 5 V at
    # 90 bpm: a run, not VT
    t, lab = make(rep("N", 10), [("V", 0.5)], rep("V", 4, 0.4), rep("N", 10), rep("V", 5, 60 / 90), rep("N", 5))
    e = ectopy(t, lab)
    assert e["run_count"] == 2 and e["tachycardia_runs"] == 1 and e["triplets"] == 0
    fast, slow = e["runs"]
    assert fast["start_s"] == t[10] and fast["end_s"] == t[14] and fast["beats"] == 5
    assert fast["rate_bpm"] == pytest.approx(150.0) and fast["tachycardia"] is True
    assert slow["beats"] == 5 and slow["rate_bpm"] == pytest.approx(90.0) and slow["tachycardia"] is False
    assert slow["start_s"] == t[25] and slow["end_s"] == t[29]


def test_bigeminy_needs_three_cycles():
    # N0..N4, then V N four times: cycles (N, V) start at beats 4, 6, 8, 10
    t, lab = make(rep("N", 5), [("V", 0.6), ("N", 1.4)] * 4, rep("N", 5))
    e = ectopy(t, lab)
    assert e["bigeminy"] == [{"start_s": t[4], "end_s": t[11], "cycles": 4}]
    assert e["isolated"] == 4 and e["trigeminy"] == []
    t2, lab2 = make(rep("N", 5), [("V", 0.6), ("N", 1.4)] * 2, rep("N", 5))
    assert ectopy(t2, lab2)["bigeminy"] == []
    assert len(ectopy(t2, lab2, opts=EventOptions(min_cycles=2))["bigeminy"]) == 1


def test_trigeminy():
    # N0..N4, then V N N four times: cycles (N, N, V) start at beats 3, 6, 9, 12
    t, lab = make(rep("N", 5), [("V", 0.6), ("N", 1.4), ("N", 1.0)] * 4, rep("N", 5))
    e = ectopy(t, lab)
    assert e["trigeminy"] == [{"start_s": t[3], "end_s": t[14], "cycles": 4}]
    assert e["bigeminy"] == []
    t2, lab2 = make(rep("N", 5), [("V", 0.6), ("N", 1.4), ("N", 1.0)] * 2, rep("N", 5))
    assert ectopy(t2, lab2)["trigeminy"] == []


def test_unclassified_and_q_beats_break_runs():
    base = [("V", 0.4)] * 5
    t, lab = make(rep("N", 5), base, rep("N", 5))
    assert ectopy(t, lab)["runs"][0]["beats"] == 5  # the control: one run of 5
    lab[7] = "unclassified"  # V V ? V V
    e = ectopy(t, lab)
    assert (e["couplets"], e["run_count"]) == (2, 0)
    lab[7], lab[8] = "V", "Q"  # V V V Q V
    e = ectopy(t, lab)
    assert (e["triplets"], e["isolated"], e["couplets"]) == (1, 1, 0)


def test_excluded_stretch_breaks_a_run():
    t, lab = make(rep("N", 5), [("V", 0.4)] * 5, rep("N", 5))
    e = ectopy(t, lab, exclude=[(t[6] + 0.1, t[6] + 0.2)])  # between the 2nd and 3rd V
    assert (e["couplets"], e["triplets"], e["run_count"], e["beats"]) == (1, 1, 1, 5)


# --- supraventricular ectopy --------------------------------------------------------------------------------


def test_supraventricular_couplet_runs_and_svt():
    t, lab = make(
        rep("N", 10),
        rep("S", 2, 0.6),  # couplet
        rep("N", 10),
        rep("S", 4, 0.75),  # run at 80 bpm: not SVT
        rep("N", 10),
        rep("S", 40, 0.4),  # SVT, 39 * 0.4 = 15.6 s: not urgent
        rep("N", 10),
        rep("S", 90, 0.4),  # SVT, 89 * 0.4 = 35.6 s: urgent
        rep("N", 10),
    )
    e = ectopy(t, lab, kind="S")
    assert (e["couplets"], e["run_count"], e["tachycardia_runs"]) == (1, 3, 2)
    assert [r["beats"] for r in e["runs"]] == [4, 40, 90]
    assert [r["tachycardia"] for r in e["runs"]] == [False, True, True]
    assert e["runs"][0]["rate_bpm"] == pytest.approx(80.0) and e["runs"][2]["rate_bpm"] == pytest.approx(150.0)
    urgent = urgent_findings({"supraventricular": e})
    assert len(urgent) == 1 and urgent[0].startswith("SVT: 35.6 s, 90 beats at 150 bpm")
    assert ectopy(t, lab, kind="V")["beats"] == 0


# --- pauses ----------------------------------------------------------------------------------------------------


def test_pauses_and_urgent_pause():
    t, lab = make(rep("N", 10), [("N", 2.5)], rep("N", 5), [("N", 3.5)], rep("N", 5), [("N", 2.0)], rep("N", 3))
    p = pauses(t)
    assert p == [
        {"start_s": t[9], "end_s": t[10], "duration_s": 2.5},
        {"start_s": t[15], "end_s": t[16], "duration_s": 3.5},
    ]  # an RR of exactly 2.0 s is not longer than 2.0 s
    urgent = urgent_findings({"pauses": p})
    assert urgent == [f"Pause 3.50 s at {clock(t[15])} ({t[15]:.1f} s)"]
    assert len(pauses(t, EventOptions(pause_s=3.0))) == 1
    # a stretch excluded as noisy is not a pause
    assert [e["duration_s"] for e in pauses(t, exclude=[(t[15] + 1.0, t[15] + 2.0)])] == [2.5]


# --- urgent findings ---------------------------------------------------------------------------------------


def test_burden_over_ten_percent_is_urgent():
    # unclassified beats are left out of the denominator: 10 V / 100 classified beats = 10 %, not over 10 %
    t, lab = make((rep("N", 9) + [("V", 0.6)]) * 10, rep("unclassified", 5))
    e = ectopy(t, lab)
    assert e["burden_pct"] == pytest.approx(10.0)
    assert urgent_findings({"ventricular": e}) == []
    lab[-1] = "V"
    e = ectopy(t, lab)
    assert e["burden_pct"] == pytest.approx(100 * 11 / 101)
    assert urgent_findings({"ventricular": e}) == [
        "Ventricular ectopy 10.9 % of classified beats (11 V beats; over 10 %)"
    ]


@pytest.mark.parametrize(("beats", "rr", "urgent"), [(6, 0.4, True), (5, 0.4, False), (6, 0.75, False)])
def test_urgent_vt_needs_six_beats_of_tachycardia(beats, rr, urgent):
    t, lab = make(rep("N", 10), rep("V", beats, rr), rep("N", 10))
    found = [s for s in urgent_findings({"ventricular": ectopy(t, lab)}) if s.startswith("VT")]
    assert found == ([f"VT: 6 beats at 150 bpm, 2.0 s, from {clock(t[10])} ({t[10]:.1f} s)"] if urgent else [])


# --- heart rate ----------------------------------------------------------------------------------------------


def test_hourly_table_on_two_hours():
    hour0 = 0.5 + np.arange(3600.0)  # 60 bpm: 3600 beats, 0.5 .. 3599.5 s
    hour1 = 3599.5 + np.arange(1, 5401) * (2 / 3)  # 90 bpm: 5400 beats up to 7199.5 s
    t = np.concatenate((hour0, hour1))
    lab = np.full(t.size, "N", dtype=object)
    lab[[5000, 6000]] = "V"
    hr = heart_rate(t, lab)
    rows = hr["hourly"]
    assert [r["hour"] for r in rows] == [0, 1] and [r["beats"] for r in rows] == [3600, 5400]
    assert [r["v_beats"] for r in rows] == [0, 2] and [r["s_beats"] for r in rows] == [0, 0]
    assert rows[0]["mean_bpm"] == pytest.approx(60.0) and rows[1]["mean_bpm"] == pytest.approx(90.0)
    assert rows[0]["min_bpm"] == pytest.approx(60.0) and rows[1]["max_bpm"] == pytest.approx(90.0)
    assert 60.5 < rows[1]["min_bpm"] < 89.5 and 60.5 < rows[0]["max_bpm"] < 89.5  # windows across 3600 s
    assert hr["min_bpm"] == pytest.approx(60.0) and hr["max_bpm"] == pytest.approx(90.0)
    assert hr["mean_bpm"] == pytest.approx(60 * (t.size - 1) / (t[-1] - t[0]))


def test_heart_rate_extremes_leave_out_unclassified_beats():
    # 60 bpm, a minute at 120 bpm, 60 bpm, then false detections at 0.2 s (300 bpm) in a noisy stretch
    t, lab = make(rep("N", 60), rep("N", 120, 0.5), rep("N", 60), rep("unclassified", 10, 0.2), rep("N", 30))
    hr = heart_rate(t, lab)
    assert hr["max_bpm"] == pytest.approx(120.0) and t[60] < hr["max_time_s"] < t[179]
    assert hr["min_bpm"] == pytest.approx(60.0)
    assert heart_rate(t, lab, EventOptions(hr_skip_unclassified=False))["max_bpm"] > 250


def test_mean_heart_rate_counts_unclassified_beats():
    """Beats per monitored minute: 10 min at 60 bpm, then 10 min at 150 bpm whose beats the gate holds back
    (fast aberrant beats, say). Leaving their intervals out would give about 60 bpm; the mean is the beats'."""
    t, lab = make(rep("N", 600), rep("unclassified", 1500, 0.4), rep("N", 1))
    assert heart_rate(t, lab)["mean_bpm"] == pytest.approx(60 * (t.size - 1) / (t[-1] - t[0]))
    assert heart_rate(t, lab)["max_bpm"] == pytest.approx(60.0)  # the readings still leave them out


# --- the whole report --------------------------------------------------------------------------------------


def test_summarise_is_json_ready_and_consistent():
    t, lab = make(
        rep("N", 100, 0.8), rep("V", 6, 0.4), rep("N", 50, 0.8), [("N", 3.5)], rep("S", 3, 0.5), rep("N", 20, 0.8)
    )
    s = summarise(t, lab)
    json.dumps(s, allow_nan=False)  # raises on NaN or a numpy type
    assert s["beats"] == {
        "total": 180,
        "by_class": {"N": 171, "S": 3, "V": 6, "F": 0, "Q": 0, "unclassified": 0},
        "classified": 180,
    }
    assert s["ventricular"]["run_count"] == 1 and s["supraventricular"]["triplets"] == 1
    assert s["pauses"]["count"] == 1 and s["pauses"]["longest_s"] == pytest.approx(3.5)
    assert s["urgent"] == urgent_findings(s) and len(s["urgent"]) == 2  # the VT of 6 beats and the 3.5-s pause
    assert s["options"]["pause_s"] == 2.0 and s["duration_s"] == pytest.approx(t[-1] - t[0])


def test_bad_input_is_refused():
    t, lab = make(rep("N", 5))
    with pytest.raises(ValueError, match="unknown beat labels"):
        ectopy(t, ["N", "N", "X", "N", "N"])
    with pytest.raises(ValueError, match="non-decreasing"):
        ectopy(t[::-1], lab)
    with pytest.raises(ValueError, match="labels"):
        summarise(t, lab[:3])


# --- heart-rate variability ---------------------------------------------------------------------------------


def test_hrv_constant_rr():
    t = 0.8 * np.arange(1, 1201)  # 960 s: three full 5-min segments and a short one left out
    d = hrv.time_domain(t, ["N"] * t.size)
    assert d["n_nn"] == 1199 and d["n_segments"] == 3
    for key in ("sdnn_ms", "rmssd_ms", "sdann_ms", "sdnn_index_ms", "pnn50_pct"):
        assert d[key] == pytest.approx(0.0, abs=1e-6), key
    assert d["mean_nn_ms"] == pytest.approx(800.0)


def test_hrv_alternating_rr():
    t = 1.0 + np.cumsum(np.tile([0.8, 1.0], 50))  # 100 NN intervals, every difference 200 ms
    d = hrv.time_domain(t, ["N"] * t.size)
    assert d["n_nn"] == 99 and d["n_successive"] == 98
    assert d["rmssd_ms"] == pytest.approx(200.0) and d["pnn50_pct"] == pytest.approx(100.0)
    # the intervals between the 100 beats are 1.0, 0.8, 1.0, ..., 1.0: 50 x 1.0 s and 49 x 0.8 s
    assert d["mean_nn_ms"] == pytest.approx((50 * 1000 + 49 * 800) / 99)
    assert d["sdnn_ms"] == pytest.approx(np.std([1000.0] * 50 + [800.0] * 49, ddof=1))


def test_nn_intervals_selection():
    t, lab = make([("N", 1), ("N", 1), ("V", 0.6), ("N", 1.4), ("N", 1), ("N", 1), ("N", 2.5), ("N", 0.25)])
    nn = hrv.nn_intervals(t, lab)  # kept: (0,1), (3,4), (4,5); 2.5 s and 0.25 s are out of range
    assert nn.rr_ms.tolist() == pytest.approx([1000.0, 1000.0, 1000.0])
    assert nn.time_s.tolist() == [t[1], t[4], t[5]] and nn.successive.tolist() == [False, False, True]
    strict = hrv.nn_intervals(t, lab, exclude_adjacent_ectopic=True)  # (0,1) precedes the V, (3,4) follows it
    assert strict.time_s.tolist() == [t[5]]


def test_hrv_segments_closed_form():
    # three 5-min segments at 1000, 750 and 600 ms, separated by 5-s gaps that are no NN interval
    rrs = (1.0, 0.75, 0.6)
    t = np.concatenate([k * 300 + 0.5 + rr * np.arange(int(295 / rr) + 1) for k, rr in enumerate(rrs)])
    d = hrv.time_domain(t, ["N"] * t.size)
    assert d["n_segments"] == 3
    assert d["sdann_ms"] == pytest.approx(np.std([1000.0, 750.0, 600.0], ddof=1))
    assert d["sdnn_index_ms"] == pytest.approx(0.0, abs=1e-6)
    assert d["rmssd_ms"] == pytest.approx(0.0, abs=1e-6)  # no difference is taken across a gap


def test_hrv_agrees_with_neurokit2():
    """SDNN (both ddof=1), RMSSD, SDANN and SDNN index (5-min windows from a first beat at 0 s, full windows only)
    agree to 1e-9 relative; pNN50 counts the same differences over 50 ms, but neurokit2 divides by the NN
    intervals (n_successive + 1) and we by the successive differences."""
    nk = pytest.importorskip("neurokit2")
    rng = np.random.default_rng(0)
    ar = np.zeros(2400)
    for i in range(1, ar.size):  # an AR(1) heart rate around 75 bpm, ~32 min
        ar[i] = 0.9 * ar[i - 1] + rng.normal(0, 0.02)
    rr = 0.8 + ar + 0.03 * np.sin(2 * np.pi * 0.25 * np.cumsum(0.8 + ar))  # respiratory sinus arrhythmia
    peaks = np.concatenate(([0], np.cumsum(np.round(rr * 1000)).astype(int)))  # samples at 1 kHz
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nk.hrv_time(peaks, sampling_rate=1000).iloc[0]
    d = hrv.time_domain(peaks / 1000, ["N"] * peaks.size)
    assert d["n_nn"] == 2400 and d["n_segments"] == 6
    for ours, theirs in [
        ("sdnn_ms", "SDNN"),
        ("rmssd_ms", "RMSSD"),
        ("sdann_ms", "SDANN5"),
        ("sdnn_index_ms", "SDNNI5"),
    ]:
        assert d[ours] == pytest.approx(ref[f"HRV_{theirs}"], rel=1e-9), ours
    n = d["n_successive"]
    assert d["pnn50_pct"] * n == pytest.approx(ref["HRV_pNN50"] * (n + 1), rel=1e-9)
    assert 5 < d["pnn50_pct"] < 30  # a realistic figure, so the comparison above compares something


# --- reference annotations -------------------------------------------------------------------------------


@pytest.mark.physionet
def test_mitdb_119_bigeminy_matches_the_rhythm_annotations():
    """Record 119's reference beats (AAMI classes) hold 37 annotated ventricular bigeminy episodes, "(B"; the
    events report finds 37, each inside an annotated one (3 s of slack for where the annotator put the change)."""
    import wfdb

    from ecgmtl.data.mitdb import AAMI

    ann = wfdb.rdann(str(MITDB / "119"), "atr")
    sym, at = np.array(ann.symbol), ann.sample / 360.0
    beat = np.isin(sym, list(AAMI))
    labels = [AAMI[s] for s in sym[beat]]
    rhythm = [(at[i], ann.aux_note[i].strip("\x00")) for i in np.flatnonzero(sym == "+")]
    ends = [a for a, _ in rhythm[1:]] + [at[-1]]
    annotated = [(a, b) for (a, code), b in zip(rhythm, ends) if code == "(B"]
    e = ectopy(at[beat], labels)
    assert len(annotated) == 37 and len(e["bigeminy"]) == 37
    assert all(any(a - 3 <= f["start_s"] and f["end_s"] <= b + 3 for a, b in annotated) for f in e["bigeminy"])
    assert e["beats"] == 444 and e["isolated"] == 444 and e["run_count"] == 0
    assert e["burden_pct"] == pytest.approx(100 * 444 / (444 + 1543))


def test_af_over_the_rate_is_urgent_one_line_each_or_one_for_many():
    from ecgmtl.holter.events import urgent_findings

    def rhythm(rates):
        eps = [
            {"start_s": 600.0 * i, "end_s": 600.0 * i + 300, "duration_s": 300.0, "mean_hr_bpm": r}
            for i, r in enumerate(rates)
        ]
        return {"rhythm": {"af": {"episodes": eps}}}

    assert urgent_findings(rhythm([90, 110, None])) == []
    lines = urgent_findings(rhythm([90, 125]))
    assert lines == ["AF with rapid ventricular response: 125 bpm mean over 5.0 min, from 00:10:00 (600.0 s)"]
    many = urgent_findings(rhythm([120, 130, 140, 150]), EventOptions(urgent_af_rate_bpm=115))
    assert len(many) == 1 and "4 episodes over 115 bpm (20.0 min); the fastest 150 bpm from 00:30:00" in many[0]


def test_rhythm_windows_merge_into_segments_and_rates_come_from_the_beats():
    from ecgmtl.holter.rhythm import mean_rate, segments

    segs = segments(np.array([0, 30, 60, 90.0]), np.array([30, 60, 90, 100.0]), ["N", "N", "A", "A"])
    assert segs == [{"start_s": 0.0, "end_s": 60.0, "label": "N"}, {"start_s": 60.0, "end_s": 100.0, "label": "A"}]
    beats = np.arange(0, 100, 0.5)  # 120 bpm
    assert abs(mean_rate(beats, 60, 100) - 120) < 1e-6 and mean_rate(beats, 10, 10.6) is None
