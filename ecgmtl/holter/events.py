"""Holter events from a beat sequence: ventricular and supraventricular ectopy, pauses, heart rate, urgent
findings (ACC/AHA 1999 ambulatory ECG guidelines, ISHNE-HRS 2017 expert consensus).

Input everywhere: `times_s` (beats,) R-peak times in seconds from the record's start, non-decreasing, and
`labels` (beats,) AAMI classes, one of `CLASSES`. "unclassified" is a beat the quality gate held back as noisy;
"Q" an unclassifiable beat (AAMI). Pass every detected beat, noisy ones included. A run is of consecutive beats
of the one class, and bigeminy / trigeminy need their N beats to be "N": any other beat in between, "Q" and
"unclassified" included, breaks the run or the pattern there. A beat of unknown class may or may not have been
ectopic, so a pattern is only reported where every beat in it was classified as the pattern needs (a count of
runs is then a lower bound where beats are unclassified). A beat dropped from the sequence instead would
silently join the beats on either side into one run. `exclude` (stretches (start_s, end_s) the caller knows to be noisy, e.g. segments the quality gate
rejected as a whole) breaks sequences in the same way and removes the intervals that overlap it from pauses
and heart rate: a noisy stretch in which no beat was detected would otherwise read as a pause.

Every function is O(n) in the beats (O(n log m) with m excluded stretches) and returns JSON-ready values:
Python ints, floats and bools, None where a figure is undefined (never NaN).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CLASSES = ("N", "S", "V", "F", "Q", "unclassified")
_CODE = {c: i for i, c in enumerate(CLASSES)}
N, S, V, F, Q, U = range(len(CLASSES))
_BREAK = -1  # code of the virtual beat inserted where an excluded stretch cuts the sequence


@dataclass(frozen=True)
class EventOptions:
    """Every threshold of the report, defaulting to the guideline (or usual Holter) value."""

    pause_s: float = 2.0  # an RR interval longer than this is a pause
    urgent_pause_s: float = 3.0  # a pause of this or longer is urgent
    vt_rate_bpm: float = 100.0  # a V run faster than this is ventricular tachycardia
    svt_rate_bpm: float = 100.0  # an S run faster than this is supraventricular tachycardia
    run_min_beats: int = 3  # consecutive ectopic beats that make a run (a triplet is the shortest run)
    min_cycles: int = 3  # bigeminy (N V) and trigeminy (N N V) cycles that make an episode
    urgent_vt_beats: int = 6  # a VT run of this many beats or more is urgent
    urgent_v_burden_pct: float = 10.0  # a V burden over this is urgent
    urgent_svt_s: float = 30.0  # an SVT run lasting over this (first to last beat) is urgent
    urgent_af_rate_bpm: float = 110.0  # an AF episode with a mean ventricular rate over this is urgent (rapid
    # ventricular response: ESC 2020 AF guideline, lenient rate control < 110 bpm)
    hr_window_beats: int = 8  # RR intervals averaged for one heart-rate reading (min / max HR)
    hr_skip_unclassified: bool = True  # leave intervals touching an unclassified beat out of the min / max
    # readings (a false detection in noise would make a spike); the mean counts them (beats per monitored minute)
    artefact_amplitude: float = 0.3  # a detection in noise (held back by the gate's beat check) or unlike every
    # beat (template correlation under artefact_corr) whose R amplitude is under this share of the record's
    # typical R amplitude is an artefact (a P or T wave or a spike the detector took for a beat): the report
    # leaves it out of every figure
    artefact_corr: float = 0.27  # the 0.5% quantile of validation beats (the template check the gate once used)
    hour_s: float = 3600.0  # length of a row of the hourly table
    burden_classes: tuple[str, ...] = ("N", "S", "V", "F")  # the denominator of burden: beats of a known class


def beat_codes(times_s, labels) -> tuple[np.ndarray, np.ndarray]:
    """Checked float64 times (beats,) in s and int codes (beats,) into `CLASSES`. Raises ValueError on a length
    mismatch, non-finite, negative or decreasing times, or an unknown label."""
    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    lab = np.asarray(labels).reshape(-1)
    if lab.shape != t.shape:
        raise ValueError(f"{t.size} beat times but {lab.size} labels")
    if t.size and not (np.all(np.isfinite(t)) and t[0] >= 0 and np.all(np.diff(t) >= 0)):
        raise ValueError("beat times must be finite, >= 0 (seconds from the record's start) and non-decreasing")
    codes = np.full(t.shape, -2, dtype=np.int8)
    for i, c in enumerate(CLASSES):  # one vectorised comparison per class: O(n), no sort
        codes[lab == c] = i
    if np.any(codes == -2):
        unknown = sorted({str(x) for x in lab[codes == -2][:1000]})[:5]
        raise ValueError(f"unknown beat labels {unknown}; expected one of {list(CLASSES)}")
    return t, codes


def merge_stretches(exclude) -> tuple[np.ndarray, np.ndarray]:
    """Excluded stretches [(start_s, end_s), ...] (any order, may overlap) as sorted disjoint (starts, ends)."""
    if exclude is None or len(exclude) == 0:
        return np.zeros(0), np.zeros(0)
    a = np.asarray(exclude, dtype=np.float64).reshape(-1, 2)
    if np.any(a[:, 1] < a[:, 0]):
        raise ValueError("an excluded stretch ends before it starts")
    a = a[np.argsort(a[:, 0], kind="stable")]
    reach = np.maximum.accumulate(a[:, 1])
    new = np.concatenate(([True], a[1:, 0] > reach[:-1]))  # a stretch starting past all before it opens a group
    last = np.concatenate((np.flatnonzero(new)[1:] - 1, [len(a) - 1]))
    return a[new, 0], reach[last]


def in_stretches(t0: np.ndarray, t1: np.ndarray, exclude) -> np.ndarray:
    """Whether each interval (t0[i], t1[i]) in s overlaps an excluded stretch (touching is not overlapping)."""
    starts, ends = merge_stretches(exclude)
    t0 = np.asarray(t0, dtype=np.float64)
    if starts.size == 0:
        return np.zeros(t0.shape, bool)
    j = np.searchsorted(ends, t0, side="right")  # the first stretch ending after the interval starts
    jj = np.minimum(j, starts.size - 1)
    return (j < starts.size) & (starts[jj] < np.asarray(t1, dtype=np.float64))


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of True: (start indices, lengths)."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    return starts, np.flatnonzero(d == -1) - starts


def _with_breaks(t: np.ndarray, codes: np.ndarray, exclude) -> tuple[np.ndarray, np.ndarray]:
    """The sequence with a virtual beat (code _BREAK, time NaN) in every interval that overlaps `exclude`, so
    that runs and patterns stop there without any special case."""
    if exclude is None or len(exclude) == 0 or t.size < 2:
        return t, codes
    cut = np.flatnonzero(in_stretches(t[:-1], t[1:], exclude)) + 1
    return np.insert(t, cut, np.nan), np.insert(codes, cut, _BREAK)


def _num(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _patterns(t: np.ndarray, codes: np.ndarray, kind: int, period: int, min_cycles: int) -> list[dict]:
    """Episodes of `period - 1` N beats then one `kind` beat, repeated at least `min_cycles` times in a row
    (period 2: bigeminy, 3: trigeminy). A cycle starts at beat i when beats i .. i+period-2 are N and beat
    i+period-1 is `kind`; an episode is a chain of cycles starting period beats apart. Two cycles of the same
    pattern cannot start fewer than `period` beats apart (their labels would contradict), so the chains taken
    on each of the `period` offsets are disjoint and cover every episode."""
    n = codes.size
    if n < period:
        return []
    cycle = codes[period - 1 :] == kind
    for j in range(period - 1):
        cycle &= codes[j : n - period + 1 + j] == N
    out = []
    for p in range(period):
        s, length = _runs(cycle[p::period])
        keep = length >= min_cycles
        first = p + period * s[keep]
        last = first + period * length[keep] - 1
        out += [(int(a), int(b), int(c)) for a, b, c in zip(first, last, length[keep])]
    out.sort()
    return [{"start_s": float(t[a]), "end_s": float(t[b]), "cycles": c} for a, b, c in out]


def ectopy(times_s, labels, kind: str = "V", opts: EventOptions = EventOptions(), exclude=None) -> dict:
    """Ectopy of one class, `kind` "V" (ventricular) or "S" (supraventricular).

    Returns {"kind", "beats", "burden_pct", "isolated", "couplets", "triplets", "run_count", "tachycardia_runs",
    "runs": [{"start_s", "end_s", "beats", "rate_bpm", "tachycardia"}], "bigeminy": [{"start_s", "end_s",
    "cycles"}], "trigeminy": [...]}. Counts are of maximal sequences of consecutive `kind` beats: isolated (1
    beat), couplets (exactly 2), triplets (exactly 3); runs are all sequences of `run_min_beats` or more, so a
    triplet is also the shortest run. start_s / end_s are the times of the first and last beat; rate_bpm is
    60 / mean RR over the RR intervals between the run's own beats (60 * (beats - 1) / (end_s - start_s); the
    coupling interval from the preceding beat is left out); tachycardia: rate_bpm > vt_rate_bpm (svt_rate_bpm
    for S). The V beats of a bigeminy or trigeminy are also counted as isolated. burden_pct: `kind` beats over
    beats of `burden_classes` (N, S, V, F: "Q" and "unclassified" beats have no known class), in %, None when
    there are none.
    """
    if kind not in ("V", "S"):
        raise ValueError(f"ectopy kind must be 'V' or 'S', not {kind!r}")
    t, codes = beat_codes(times_s, labels)
    k = _CODE[kind]
    threshold = opts.vt_rate_bpm if kind == "V" else opts.svt_rate_bpm
    n_kind = int(np.count_nonzero(codes == k))
    classified = int(np.count_nonzero(np.isin(codes, [_CODE[c] for c in opts.burden_classes])))

    tx, cx = _with_breaks(t, codes, exclude)
    starts, lengths = _runs(cx == k)
    is_run = lengths >= opts.run_min_beats
    rs, rl = starts[is_run], lengths[is_run]
    t0, t1 = tx[rs], tx[rs + rl - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(t1 > t0, 60.0 * (rl - 1) / (t1 - t0), np.nan)  # simultaneous beats: no rate
    tachy = rate > threshold
    runs = [
        {"start_s": float(a), "end_s": float(b), "beats": int(n), "rate_bpm": _num(r), "tachycardia": bool(f)}
        for a, b, n, r, f in zip(t0, t1, rl, rate, tachy)
    ]
    return {
        "kind": kind,
        "beats": n_kind,
        "burden_pct": 100.0 * n_kind / classified if classified else None,
        "isolated": int(np.count_nonzero(lengths == 1)),
        "couplets": int(np.count_nonzero(lengths == 2)),
        "triplets": int(np.count_nonzero(lengths == 3)),
        "run_count": len(runs),
        "tachycardia_runs": int(np.count_nonzero(tachy)),
        "runs": runs,
        "bigeminy": _patterns(tx, cx, k, 2, opts.min_cycles),
        "trigeminy": _patterns(tx, cx, k, 3, opts.min_cycles),
    }


def pauses(times_s, opts: EventOptions = EventOptions(), exclude=None) -> list[dict]:
    """RR intervals longer than `pause_s`: [{"start_s" (the beat before), "end_s" (the beat after),
    "duration_s"}], in time order. Found from consecutive detected beats only, whatever their class: a noisy
    stretch in which no beat was detected reads as a pause unless it is passed in `exclude`; an interval that
    overlaps an excluded stretch is never a pause."""
    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    if t.size < 2:
        return []
    if np.any(np.diff(t) < 0):
        raise ValueError("beat times must be non-decreasing")
    rr = np.diff(t)
    hit = (rr > opts.pause_s) & ~in_stretches(t[:-1], t[1:], exclude)
    i = np.flatnonzero(hit)
    return [{"start_s": float(t[j]), "end_s": float(t[j + 1]), "duration_s": float(rr[j])} for j in i]


def _usable_intervals(t: np.ndarray, codes: np.ndarray, opts: EventOptions, exclude, readings: bool = True):
    """Per RR interval (beats - 1,): whether it counts for heart rate (for the min / max readings, or the mean)."""
    bad = in_stretches(t[:-1], t[1:], exclude)
    if readings and opts.hr_skip_unclassified:  # beats in noise may be false detections: they would raise the rate
        u = codes == U
        bad |= u[:-1] | u[1:]
    return ~bad & (np.diff(t) > 0)


def heart_rate(times_s, labels, opts: EventOptions = EventOptions(), exclude=None) -> dict:
    """Heart rate over all beats (ectopic included, as Holter systems count it).

    A reading is 60 * k / (time spanned by k consecutive RR intervals), k = `hr_window_beats`, taken at every
    beat (a sliding window) and timed at the window's midpoint; a window that holds an unusable interval (one
    overlapping `exclude`, or touching an "unclassified" beat while `hr_skip_unclassified`) gives no reading.
    min/max are over the readings; mean is 60 / mean RR over every interval not overlapping `exclude` (beats per
    minute of monitored time: leaving out the intervals at unclassified beats would bias it wherever the gate
    holds back beats of one rhythm, e.g. fast aberrant beats). Hourly rows (hour = floor(time / hour_s) from the record's start, every hour up to the
    last beat): beats (detected, any class) and V / S beats whose R peak falls in the hour, mean from the monitored
    intervals ending in it, min/max from the readings timed in it.

    Returns {"window_beats", "mean_bpm", "min_bpm", "min_time_s", "max_bpm", "max_time_s", "hourly": [{"hour",
    "beats", "v_beats", "s_beats", "mean_bpm", "min_bpm", "max_bpm"}]}; a figure with no data is None.
    """
    t, codes = beat_codes(times_s, labels)
    k = int(opts.hr_window_beats)
    out = {"window_beats": k, "mean_bpm": None, "min_bpm": None, "min_time_s": None}
    out |= {"max_bpm": None, "max_time_s": None, "hourly": []}
    if t.size == 0:
        return out
    rr = np.diff(t)
    ok = _usable_intervals(t, codes, opts, exclude) if t.size > 1 else np.zeros(0, bool)
    monitored = _usable_intervals(t, codes, opts, exclude, readings=False) if t.size > 1 else ok
    if monitored.any():
        out["mean_bpm"] = 60.0 * np.count_nonzero(monitored) / float(rr[monitored].sum())

    hr, mid = np.zeros(0), np.zeros(0)
    if rr.size >= k >= 1:
        n_bad = np.concatenate(([0], np.cumsum(~ok)))
        clean = (n_bad[k:] - n_bad[:-k]) == 0  # window i covers intervals i .. i+k-1
        span = t[k:] - t[:-k]
        hr = 60.0 * k / span[clean]
        mid = 0.5 * (t[k:] + t[:-k])[clean]
    if hr.size:
        lo, hi = int(np.argmin(hr)), int(np.argmax(hr))
        out |= {"min_bpm": float(hr[lo]), "min_time_s": float(mid[lo])}
        out |= {"max_bpm": float(hr[hi]), "max_time_s": float(mid[hi])}

    hour = np.floor(t / opts.hour_s).astype(np.int64)
    n_hours = int(hour[-1]) + 1
    beats = np.bincount(hour, minlength=n_hours)
    v_beats = np.bincount(hour, weights=codes == V, minlength=n_hours)
    s_beats = np.bincount(hour, weights=codes == S, minlength=n_hours)
    end_hour = hour[1:][monitored]
    count = np.bincount(end_hour, minlength=n_hours)
    total = np.bincount(end_hour, weights=rr[monitored], minlength=n_hours)
    h_lo, h_hi = np.full(n_hours, np.inf), np.full(n_hours, -np.inf)
    if hr.size:
        mid_hour = np.floor(mid / opts.hour_s).astype(np.int64)
        np.minimum.at(h_lo, mid_hour, hr)
        np.maximum.at(h_hi, mid_hour, hr)
    out["hourly"] = [
        {
            "hour": h,
            "beats": int(beats[h]),
            "v_beats": int(v_beats[h]),
            "s_beats": int(s_beats[h]),
            "mean_bpm": 60.0 * int(count[h]) / float(total[h]) if count[h] else None,
            "min_bpm": _num(h_lo[h]),
            "max_bpm": _num(h_hi[h]),
        }
        for h in range(n_hours)
    ]
    return out


def clock(t_s: float) -> str:
    """Seconds from the record's start as hh:mm:ss (hours past 24 on a 48-h record)."""
    s = int(round(t_s))
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def urgent_findings(report_parts: dict, opts: EventOptions = EventOptions()) -> list[str]:
    """Findings to act on the same day, one short line each with its figures: VT of `urgent_vt_beats` beats or
    more; V burden over `urgent_v_burden_pct`; pauses of `urgent_pause_s` or longer; SVT lasting over
    `urgent_svt_s` (first to last beat); AF with a mean rate over `urgent_af_rate_bpm`. `report_parts`:
    {"ventricular": ectopy(V), "supraventricular": ectopy(S), "pauses": pauses() or summarise()'s {"events":
    ...}, "rhythm": ecgmtl.holter.rhythm.rhythm_section()}, any of them absent."""
    out = []
    v = report_parts.get("ventricular") or {}
    for r in v.get("runs", []):
        if r["tachycardia"] and r["beats"] >= opts.urgent_vt_beats:
            out.append(
                f"VT: {r['beats']} beats at {r['rate_bpm']:.0f} bpm, {r['end_s'] - r['start_s']:.1f} s, "
                f"from {clock(r['start_s'])} ({r['start_s']:.1f} s)"
            )
    burden = v.get("burden_pct")
    if burden is not None and burden > opts.urgent_v_burden_pct:
        out.append(
            f"Ventricular ectopy {burden:.1f} % of classified beats ({v['beats']} V beats; over "
            f"{opts.urgent_v_burden_pct:g} %)"
        )
    p = report_parts.get("pauses") or []
    long = [e for e in (p.get("events", []) if isinstance(p, dict) else p) if e["duration_s"] >= opts.urgent_pause_s]
    if len(long) > 3:  # one line, not a screenful: every pause is in the report's pause list
        e = max(long, key=lambda e: e["duration_s"])
        out.append(
            f"{len(long)} pauses of {opts.urgent_pause_s:g} s or more; the longest {e['duration_s']:.2f} s at "
            f"{clock(e['start_s'])} ({e['start_s']:.1f} s)"
        )
    else:
        out += [f"Pause {e['duration_s']:.2f} s at {clock(e['start_s'])} ({e['start_s']:.1f} s)" for e in long]
    for r in (report_parts.get("supraventricular") or {}).get("runs", []):
        if r["tachycardia"] and r["end_s"] - r["start_s"] > opts.urgent_svt_s:
            out.append(
                f"SVT: {r['end_s'] - r['start_s']:.1f} s, {r['beats']} beats at {r['rate_bpm']:.0f} bpm, "
                f"from {clock(r['start_s'])} ({r['start_s']:.1f} s)"
            )
    return out + _fast_af((report_parts.get("rhythm") or {}).get("af") or {}, opts)


def _fast_af(af: dict, opts: EventOptions) -> list[str]:
    """AF episodes faster than urgent_af_rate_bpm: one line each, or one line for all past three."""
    fast = [e for e in af.get("episodes", []) if (e.get("mean_hr_bpm") or 0) > opts.urgent_af_rate_bpm]
    if len(fast) > 3:
        e = max(fast, key=lambda e: e["mean_hr_bpm"])
        total = sum(e["duration_s"] for e in fast) / 60
        return [
            f"AF with rapid ventricular response: {len(fast)} episodes over {opts.urgent_af_rate_bpm:g} bpm "
            f"({total:.1f} min); the fastest {e['mean_hr_bpm']:.0f} bpm from {clock(e['start_s'])}"
        ]
    return [
        f"AF with rapid ventricular response: {e['mean_hr_bpm']:.0f} bpm mean over {e['duration_s'] / 60:.1f} min, "
        f"from {clock(e['start_s'])} ({e['start_s']:.1f} s)"
        for e in fast
    ]


def summarise(times_s, labels, opts: EventOptions = EventOptions(), exclude=None) -> dict:
    """The whole events report as one JSON-ready dict: {"beats": {"total", "by_class": {class: count},
    "classified"}, "duration_s" (first to last beat), "excluded_s" (total of the merged excluded stretches),
    "ventricular": ectopy(V), "supraventricular": ectopy(S), "pauses": {"threshold_s", "count", "longest_s",
    "events": pauses()}, "heart_rate": heart_rate(), "urgent": urgent_findings(), "options": the options}."""
    labels = np.asarray(labels)  # once, not in every part
    t, codes = beat_codes(times_s, labels)
    counts = np.bincount(codes.astype(np.int64), minlength=len(CLASSES)) if t.size else np.zeros(len(CLASSES))
    by_class = {c: int(counts[i]) for i, c in enumerate(CLASSES)}
    starts, ends = merge_stretches(exclude)
    p = pauses(t, opts, exclude)
    parts = {
        "beats": {
            "total": int(t.size),
            "by_class": by_class,
            "classified": sum(by_class[c] for c in opts.burden_classes),
        },
        "duration_s": float(t[-1] - t[0]) if t.size else 0.0,
        "excluded_s": float((ends - starts).sum()),
        "ventricular": ectopy(t, labels, "V", opts, exclude),
        "supraventricular": ectopy(t, labels, "S", opts, exclude),
        "pauses": {
            "threshold_s": opts.pause_s,
            "count": len(p),
            "longest_s": max((e["duration_s"] for e in p), default=None),
            "events": p,
        },
        "heart_rate": heart_rate(t, labels, opts, exclude),
    }
    parts["urgent"] = urgent_findings(parts, opts)
    parts["options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(opts).items()}
    return parts
