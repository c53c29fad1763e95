"""The rhythm part of the Holter report: the rhythm model's label for each 30-s window of the recording
(ecgmtl.tasks.rhythm.predict.rhythm_timeline, 30 minutes read at a time), merged into stretches, and atrial
fibrillation as Holter reports give it: burden (share of the recording's time), episodes (start, end,
duration, mean ventricular rate) and the longest. The mean rate of an episode is that of the beat model's
beats inside it where the report has them (the beats the report counts), else the rhythm model's own R peaks.
The resolution is the window: an episode's start and end are known to within one window.

The rhythm model runs in a second thread (`start_rhythm`, one onnxruntime thread) while the beat model runs.
"""

from __future__ import annotations

import os

import numpy as np

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import ModelError

NAMES = {"N": "normal rhythm", "A": "atrial fibrillation", "O": "other rhythm", "~": "too noisy"}


def rhythm_section(model: OnnxModel, path: str | os.PathLike, lead: str | None = None) -> dict:
    """The report's "rhythm" part for one record: {"model", "lead", "window_s", "time_share" {class: share},
    "segments" [{start_s, end_s, label}] (runs of windows of one label), "af": {"burden_pct", "af_s",
    "episodes", "longest", "rate_from"}}, the episodes' rates from the rhythm model's R peaks (beat_rates
    replaces them)."""
    from ecgmtl.tasks.rhythm.predict import af_episodes, rhythm_timeline, time_share

    check_rhythm_model(model)
    classes = list(model.meta["classes"])
    t = rhythm_timeline(model, path, lead)
    label = t["probs"].argmax(axis=1)
    af = af_episodes(t, classes)
    return {
        "model": model.name,
        "lead": t["source"].lead,
        "window_s": round(float(model.meta["window"]) / float(model.meta["fs"]), 1),
        "time_share": time_share(t, classes),
        "segments": segments(t["start_s"], t["end_s"], [classes[k] for k in label]),
        "af": {
            "burden_pct": round(100.0 * af["burden"], 2),
            "af_s": af["af_s"],
            "episodes": af["episodes"],
            "longest": af["longest"],
            "rate_from": "rhythm model R peaks",
        },
    }


def start_rhythm(model: OnnxModel, path: str | os.PathLike, lead: str | None):
    """rhythm_section of the record in a second thread: a Future whose result() raises what it raised."""
    from concurrent.futures import ThreadPoolExecutor

    check_rhythm_model(model)
    pool = ThreadPoolExecutor(1, thread_name_prefix="rhythm")
    future = pool.submit(rhythm_section, model, path, lead)
    pool.shutdown(wait=False)  # the thread ends once it has answered
    return future


def beat_rates(section: dict, beat_times) -> dict:
    """The section with each AF episode's mean rate from the beats the report counts (times in s), where an
    episode holds 3 or more of them."""
    times = np.sort(np.asarray(beat_times, dtype=np.float64))
    if len(times) < 2:
        return section
    for e in section["af"]["episodes"]:
        hr = mean_rate(times, e["start_s"], e["end_s"])
        if hr is not None:
            e["mean_hr_bpm"] = round(hr, 1)
    section["af"]["rate_from"] = "beats of the report"
    return section


def check_rhythm_model(model: OnnxModel) -> OnnxModel:
    """The model, or ModelError in one line when it is not a rhythm model."""
    from ecgmtl.tasks.registry import task_for_meta

    task = task_for_meta(model.meta)
    if task.name != "rhythm":
        raise ModelError(f"{model.path} is a {task.description} model; --rhythm-model needs a rhythm model")
    return model


def mean_rate(times: np.ndarray, start_s: float, end_s: float) -> float | None:
    """Beats per minute from the first to the last beat in [start_s, end_s) (None under 3 beats)."""
    a, b = np.searchsorted(times, [start_s, end_s])
    if b - a < 3:
        return None
    return 60.0 * (b - a - 1) / max(float(times[b - 1] - times[a]), 1e-6)


def segments(start_s: np.ndarray, end_s: np.ndarray, labels: list[str]) -> list[dict]:
    """Consecutive windows of one label merged: [{start_s, end_s, label}]."""
    out: list[dict] = []
    for a, b, c in zip(start_s, end_s, labels):
        if out and out[-1]["label"] == c:
            out[-1]["end_s"] = round(float(b), 1)
        else:
            out.append({"start_s": round(float(a), 1), "end_s": round(float(b), 1), "label": c})
    return out


def format_rhythm(r: dict) -> list[str]:
    """The report screen's rhythm lines."""
    af = r["af"]
    share = ", ".join(f"{NAMES.get(c, c)} {100 * v:.1f}%" for c, v in r["time_share"].items() if v > 0)
    lines = [f"rhythm ({r['window_s']:g}-s windows, lead {r['lead']}): {share}"]
    if not af["episodes"]:
        return lines + ["atrial fibrillation: none found"]
    e = af["longest"]
    rate = "" if e["mean_hr_bpm"] is None else f", {e['mean_hr_bpm']:.0f} bpm"
    lines.append(
        f"atrial fibrillation: burden {af['burden_pct']:.1f}% ({af['af_s'] / 60:.1f} min), {len(af['episodes'])} "
        f"episodes; longest {e['duration_s'] / 60:.1f} min from {_clock(e['start_s'])}{rate}"
    )
    return lines


def _clock(t_s: float) -> str:
    from ecgmtl.holter.events import clock

    return clock(t_s)
