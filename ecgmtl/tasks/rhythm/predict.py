"""Prediction with a rhythm model (numpy, scipy, wfdb and onnxruntime; no torch).

A strip (a recording up to STRIP_MAX_S long, as the CinC 2017 recordings) gets one label and its
probabilities: the mean over its windows, cut as in training. A longer recording gets the rhythm of each
window (window after window, none overlapping, the last one shorter), read 30 minutes at a time, and its AF
episodes: runs of AF windows, with their start, end, duration and mean heart rate, and the AF burden.
"""

from __future__ import annotations

import os

import numpy as np

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import RecordError
from ecgmtl.signal.preprocess import PreprocessConfig

STRIP_MAX_S = 65.0  # up to this long, one label for the recording
CHUNK_WINDOWS = 60  # windows read and prepared at a time in a long recording (30 min of 30-s windows)
MARGIN_S = 10.0  # signal read on each side of a chunk, for the filters
AF = "A"


def is_strip(record: str | os.PathLike) -> bool:
    """A one-lead recording of at most STRIP_MAX_S (read from its header): the rhythm model's by default."""
    from ecgmtl.io.stream import open_all_leads

    try:
        leads = open_all_leads(record)
    except RecordError:
        return False
    return len(leads) == 1 and leads[0].duration_s <= STRIP_MAX_S


def _pcfg(meta: dict) -> PreprocessConfig:
    return PreprocessConfig(**meta["preprocess"])


def _lead(path: str | os.PathLike, lead: str | None):
    from ecgmtl.io.record import lead_index
    from ecgmtl.io.stream import open_all_leads

    sources = open_all_leads(path)
    if lead is None:
        return sources[0]
    return sources[lead_index(sources[0].name, sources[0].leads, lead)]


def window_probabilities(
    model: OnnxModel, x_mv: np.ndarray, fs_in: float, starts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One lead in mV through the model: (probabilities (windows, classes), rhythm features (windows, k), the
    window starts at the model rate). starts None: the training cut (window_plan at the model's stride)."""
    from ecgmtl.tasks.rhythm.data import cut, prepare_lead, window_plan
    from ecgmtl.tasks.rhythm.features import window_features

    meta = model.meta
    fs, window = float(meta["fs"]), int(meta["window"])
    lead, peaks = prepare_lead(x_mv, fs_in, _pcfg(meta))
    if starts is None:
        starts = window_plan(len(lead), window, int(meta["stride"]))
    feats = window_features(peaks, starts, window, fs, len(lead))
    probs, _ = model.run(cut(lead, starts, window)[:, None, :], feats)
    return probs, feats, starts


def strip_probabilities(model: OnnxModel, x_mv: np.ndarray, fs_in: float) -> np.ndarray:
    """A recording's class probabilities: the mean over its windows."""
    probs, _, _ = window_probabilities(model, x_mv, fs_in)
    return probs.mean(axis=0)


def rhythm_timeline(model: OnnxModel, path: str | os.PathLike, lead: str | None = None) -> dict:
    """A recording of any length as consecutive windows, read CHUNK_WINDOWS windows at a time: their starts
    and ends (s), probabilities, mean RR (s), and the lead read."""
    src = _lead(path, lead)
    fs = float(model.meta["fs"])
    w_in = model.meta["window"] / fs * src.fs  # a window in the record's samples
    n_win = max(1, int(np.ceil(src.n_samples / w_in - 1e-9)))
    margin = int(round(MARGIN_S * src.fs))
    probs, rr, edges = [], [], []
    for c in range(0, n_win, CHUNK_WINDOWS):
        a, b = int(round(c * w_in)), min(src.n_samples, int(round(min(n_win, c + CHUNK_WINDOWS) * w_in)))
        ra = max(0, a - margin)
        x = src.read(ra, min(src.n_samples, b + margin))
        off = int(round((a - ra) * fs / src.fs))
        k = int(np.ceil((b - a) / w_in - 1e-9))
        starts = off + np.arange(k) * int(model.meta["window"])
        p, f, _ = window_probabilities(model, x, src.fs, starts)
        probs.append(p)
        rr.append(f[:, 0])
        edges += [(a + j * w_in, min(b, a + (j + 1) * w_in)) for j in range(k)]
    e = np.asarray(edges) / src.fs
    return {
        "source": src,
        "start_s": e[:, 0],
        "end_s": e[:, 1],
        "probs": np.concatenate(probs),
        "rr": np.concatenate(rr),
    }


def time_share(timeline: dict, classes: list[str]) -> dict:
    """The share of the recording's time in each class (the windows' labels weighted by their length)."""
    label = timeline["probs"].argmax(axis=1)
    span = timeline["end_s"] - timeline["start_s"]
    return {c: round(float(span[label == i].sum() / span.sum()), 4) for i, c in enumerate(classes)}


def af_episodes(timeline: dict, classes: list[str]) -> dict:
    """Runs of windows labelled AF: episodes (start, end, duration, mean heart rate), burden and longest."""
    label = timeline["probs"].argmax(axis=1)
    af = label == classes.index(AF)
    start, end, rr = timeline["start_s"], timeline["end_s"], timeline["rr"]
    episodes, i = [], 0
    while i < len(af):
        if not af[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(af) and af[j + 1]:
            j += 1
        span = end[i : j + 1] - start[i : j + 1]
        hr = 60.0 / max(float(np.average(rr[i : j + 1], weights=span)), 1e-3)
        episodes.append(
            {
                "start_s": round(float(start[i]), 1),
                "end_s": round(float(end[j]), 1),
                "duration_s": round(float(end[j] - start[i]), 1),
                "mean_hr_bpm": round(hr, 1),
            }
        )
        i = j + 1
    total = float(end[-1] - start[0]) if len(end) else 0.0
    af_time = sum(e["duration_s"] for e in episodes)
    return {
        "burden": round(af_time / total, 4) if total else 0.0,
        "af_s": round(af_time, 1),
        "episodes": episodes,
        "longest": max(episodes, key=lambda e: e["duration_s"]) if episodes else None,
    }


def predict_rhythm(model: OnnxModel, path: str | os.PathLike, opts) -> dict:
    """One record: a strip's label and probabilities, or a long record's windows and AF episodes."""
    if opts.reconstruct_missing:
        raise RecordError("--reconstruct-missing applies to 12-lead models")
    classes = list(model.meta["classes"])
    src = _lead(path, opts.lead)
    record = {
        "name": src.name,
        "path": str(path),
        "fs": src.fs,
        "duration_s": round(src.duration_s, 2),
        "lead": src.lead,
        "warnings": list(src.warnings),
    }
    out = {"model": model.name, "task": model.meta["task"], "record": record}
    if src.duration_s <= STRIP_MAX_S:
        p = strip_probabilities(model, src.read(0, src.n_samples), src.fs)
        out["rhythm"] = {"label": classes[int(p.argmax())], "probabilities": dict(zip(classes, map(_r, p)))}
        return out
    t = rhythm_timeline(model, path, opts.lead)
    lab = t["probs"].argmax(axis=1)
    out["windows"] = [
        {"start_s": round(float(a), 1), "end_s": round(float(b), 1), "label": classes[int(k)], "p": _r(p[k])}
        for a, b, k, p in zip(t["start_s"], t["end_s"], lab, t["probs"])
    ]
    out["time_share"] = time_share(t, classes)
    out["af"] = af_episodes(t, classes)
    return out


def _r(v) -> float:
    return round(float(v), 4)


def format_rhythm(result: dict) -> str:
    rec = result["record"]
    head = f"{rec['name']} ({rec['duration_s']:g} s, lead {rec['lead']}), {result['model']}"
    if "rhythm" in result:
        r = result["rhythm"]
        probs = "  ".join(f"{c} {p:.3f}" for c, p in r["probabilities"].items())
        return f"{head}\nrhythm: {r['label']}   ({probs})"
    af = result["af"]
    shares = "  ".join(f"{c} {100 * s:.1f}%" for c, s in result["time_share"].items())
    lines = [
        head,
        f"time per rhythm: {shares}",
        f"AF burden {100 * af['burden']:.1f}%, {len(af['episodes'])} episode(s)",
    ]
    for e in af["episodes"][:20]:
        lines.append(
            f"  AF {e['start_s']:.0f}-{e['end_s']:.0f} s ({e['duration_s']:.0f} s, {e['mean_hr_bpm']:.0f} bpm)"
        )
    if len(af["episodes"]) > 20:
        lines.append(f"  ... {len(af['episodes']) - 20} more (--json lists them all)")
    return "\n".join(lines)


def rhythm_summary_csv(rows: list[dict], classes: list[str]) -> str:
    """One row per record: the strip's label and probabilities, or a long record's AF burden and episodes."""
    head = ["record", "label", *[f"p_{c}" for c in classes], "af_burden", "af_episodes", "error"]
    lines = [",".join(head)]
    for r in rows:
        if "error" in r:
            lines.append(",".join([r["name"], *[""] * (len(head) - 2), '"' + r["error"].replace('"', "'") + '"']))
            continue
        name = r["record"]["name"]
        if "rhythm" in r:
            p = r["rhythm"]["probabilities"]
            lines.append(",".join([name, r["rhythm"]["label"], *[f"{p[c]:.4f}" for c in classes], "", "", ""]))
        else:
            af = r["af"]
            lines.append(
                ",".join([name, "", *[""] * len(classes), f"{af['burden']:.4f}", str(len(af["episodes"])), ""])
            )
    return "\n".join(lines) + "\n"
