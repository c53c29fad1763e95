"""The Holter report of a long recording: the beat model's beats (detected, classified, quality-gated, as
`ecgmtl predict` gives them) summed up as the ACC/AHA 1999 and ISHNE-HRS 2017 guidelines and Holter systems
report them: recording and analysable time, heart rate (min / mean / max with times, hourly), ventricular and
supraventricular ectopy, pauses, HRV on NN intervals, and the urgent findings first; with a rhythm model, the
rhythm of each 30-s window and atrial fibrillation (burden, episodes, the longest; ecgmtl.holter.rhythm).

Segments the quality gate failed as a whole are excluded (noise is not a pause, and breaks runs); stretches in
which no beat was detected are not: a real asystole must be reported as a pause.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import ModelError, RecordError
from ecgmtl.holter.events import EventOptions, clock, summarise
from ecgmtl.holter.hrv import time_domain
from ecgmtl.io.atomic import atomic_path
from ecgmtl.tasks.beats.engine import BeatRun

FORMAT = "ecgmtl-holter/1"


def holter_report(
    model: OnnxModel,
    path: str | os.PathLike,
    opts: EventOptions = EventOptions(),
    lead: str | None = None,
    progress=None,
    rhythm_model: OnnxModel | None = None,
) -> tuple[dict, BeatRun]:
    """(the report, the beat run it was made from: its beats as a table, the lead source for the strips, the
    class templates) for one record, processed a chunk at a time (engine.run_beats; progress(done_s, total_s)
    after each chunk); the rhythm part from rhythm_model on the same lead, computed in a second thread while
    the beats are (None: "rhythm" is None); RecordError / ModelError in one line."""
    from ecgmtl.holter.events import urgent_findings
    from ecgmtl.holter.rhythm import beat_rates, start_rhythm
    from ecgmtl.tasks.beats.engine import run_beats
    from ecgmtl.tasks.beats.predict import preprocess_config, result_of
    from ecgmtl.tasks.registry import task_for_meta

    if task_for_meta(model.meta).name != "beats":
        raise ModelError(
            f"{model.path} is a {task_for_meta(model.meta).description} model; a Holter report needs "
            "a beat model (the default, or --model with one)"
        )
    rhythm = None
    if rhythm_model is not None:
        rhythm = start_rhythm(rhythm_model, path, lead or preprocess_config(model.meta).lead)
    run = run_beats(model, path, lead, templates=True, progress=progress)
    result = result_of(model, run, path, beats=False)
    beats = ~artefacts(run, opts)
    times = run.table.samples[beats] / run.source.fs
    labels = [c for c, keep in zip(run.table.labels(run.classes), beats) if keep]
    report = report_from_beats(result, times, labels, opts)
    report["recording"]["artefacts"] = int((~beats).sum())
    report["rhythm"] = beat_rates(rhythm.result(), times) if rhythm is not None else None
    if rhythm is not None:
        report["urgent"] = urgent_findings(report, opts)
    return report, run


def artefacts(run: BeatRun, opts: EventOptions = EventOptions()) -> np.ndarray:
    """(beats,) bool: detections the report takes for artefacts, not beats: small against the record's typical
    R wave (EventOptions.artefact_amplitude) and either in noise (held back by the beat's own check) or unlike
    every beat of the record (template correlation under EventOptions.artefact_corr: a P or T wave)."""
    from ecgmtl.signal.quality import BEAT_REASONS

    own = np.array([w in BEAT_REASONS for w in run.table.why], dtype=bool)
    unlike = ~(run.table.corr >= opts.artefact_corr)
    return (own | unlike) & (run.table.amplitude < opts.artefact_amplitude)


def report_from_beats(result: dict, times, labels, opts: EventOptions = EventOptions()) -> dict:
    """The report of a beat prediction (ecgmtl.tasks.beats.predict.result_of): its beats' times (s) and classes
    (`unclassified` where the gate held a beat back), and the segments its quality gate failed."""
    noisy = [(s["start_s"], s["end_s"]) for s in result["quality"]["failed_segments"]]
    events = summarise(times, labels, opts, exclude=noisy)
    duration = float(result["record"]["duration_s"])
    lost = min(events["excluded_s"], duration)
    return {
        "format": FORMAT,
        "record": result["record"],
        "model": result["model"],
        "provider": result["provider"],
        "recording": {
            "duration_s": duration,
            "analysable_s": round(duration - lost, 3),
            "lost_to_noise_s": round(lost, 3),
            "noisy_segments": len(noisy),
            "unclassified_beats": result["quality"]["unclassified_beats"],
        },
        "urgent": events.pop("urgent"),
        **events,
        "hrv": time_domain(times, labels, exclude=noisy),
        "hrv_definitions": "ESC/NASPE Task Force 1996 on NN intervals (both beats N, 0.3-2.0 s); SD with ddof=1",
    }


def write_report(report: dict, out_dir: Path) -> Path:
    """OUT/<record>.holter.json, written to a temporary name and renamed (no half-written report)."""
    path = Path(out_dir) / f"{report['record']['name']}.holter.json"
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(report, indent=1))
    except OSError as e:
        raise RecordError(f"cannot write the Holter report into {out_dir} ({e.strerror or e})") from None
    return path


def format_report(r: dict) -> str:
    """One screen: urgent findings first, then the figures a cardiologist reads first."""
    from ecgmtl.holter.rhythm import format_rhythm

    rec, hr, v, s, p = r["recording"], r["heart_rate"], r["ventricular"], r["supraventricular"], r["pauses"]
    h = r["hrv"]
    lines = [
        f"Holter report: {r['record']['name']} ({rec['duration_s'] / 3600:.2f} h; analysable "
        f"{rec['analysable_s'] / 3600:.2f} h, {rec['lost_to_noise_s'] / 60:.1f} min lost to noise"
        + (f"; {rec['artefacts']} detections taken for artefacts)" if rec.get("artefacts") else ")")
    ]
    lines += [f"URGENT: {u}" for u in r["urgent"]] or ["urgent findings: none"]
    lines.append(f"beats: {r['beats']['total']} ({', '.join(f'{c} {n}' for c, n in r['beats']['by_class'].items())})")

    def at(key: str) -> str:
        bpm = hr.get(f"{key}_bpm")
        return "-" if bpm is None else f"{bpm:.0f} bpm at {clock(hr[f'{key}_time_s'])}"

    mean = hr.get("mean_bpm")
    lines.append(
        f"heart rate: min {at('min')}, mean {'-' if mean is None else format(mean, '.0f')} bpm, max {at('max')}"
    )
    for name, e in (("ventricular", v), ("supraventricular", s)):
        lines.append(
            f"{name}: {e['beats']} beats ({e['burden_pct'] or 0:.2f}%), isolated {e['isolated']}, couplets "
            f"{e['couplets']}, triplets {e['triplets']}, runs {e['run_count']} (tachycardia "
            f"{e['tachycardia_runs']}), bigeminy {len(e['bigeminy'])}, trigeminy "
            f"{len(e['trigeminy'])}"
        )
    longest = "" if p["longest_s"] is None else f", longest {p['longest_s']:.2f} s"
    lines.append(f"pauses over {p['threshold_s']:g} s: {p['count']}{longest}")
    if r.get("rhythm"):
        lines += format_rhythm(r["rhythm"])

    def ms(k: str) -> str:
        return "-" if h.get(k) is None else f"{h[k]:.0f}"

    pnn = "-" if h.get("pnn50_pct") is None else f"{h['pnn50_pct']:.1f}"
    lines.append(
        f"HRV (NN): SDNN {ms('sdnn_ms')} ms, SDANN {ms('sdann_ms')} ms, SDNN index {ms('sdnn_index_ms')} ms, "
        f"RMSSD {ms('rmssd_ms')} ms, pNN50 {pnn}%"
    )
    return "\n".join(lines)
