"""The Holter report as one self-contained HTML page (pictures inline as PNG, no network): urgent findings and
the summary, the heart-rate trend with the ectopy per hour under it, an RR tachogram, 10-s strips around the
events a cardiologist looks at (at 25 mm/s and 10 mm/mV, with the beat labels; the AF onset among them), the
rhythm over the recording with the AF episodes, and the beat templates per class."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from ecgmtl.errors import RecordError
from ecgmtl.holter.events import EventOptions, clock
from ecgmtl.holter.report import artefacts, format_report
from ecgmtl.io.atomic import atomic_path
from ecgmtl.tasks.beats.engine import TEMPLATE_PRE_S, BeatRun, filtered_span

RHYTHM_COLOURS = {"N": "#2b8a3e", "A": "#e03131", "O": "#1c7ed6", "~": "#adb5bd"}
COLOURS = {"N": "#2b8a3e", "S": "#1c7ed6", "V": "#e03131", "F": "#f08c00", "Q": "#7048e8", "unclassified": "#868e96"}
MM = 1 / 25.4  # inches per millimetre
STRIP_S = 10.0


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _trend(report: dict, times: np.ndarray) -> str:
    """Heart rate per minute over the recording, and V and S beats per hour under it."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    if times.size > 1:
        rr, mid = np.diff(times), (times[1:] + times[:-1]) / 2
        ok = (rr > 0.25) & (rr < 3.0)
        minute = (mid[ok] // 60).astype(int)
        if minute.size:
            med = [np.median(rr[ok][minute == m]) for m in np.unique(minute)]
            a.plot((np.unique(minute) + 0.5) / 60, 60 / np.asarray(med), color="black", lw=0.8)
    a.set_ylabel("heart rate (bpm, per minute)")
    a.grid(alpha=0.3)
    hours = report["heart_rate"]["hourly"]
    h = np.array([r["hour"] for r in hours], dtype=float)
    b.bar(h + 0.3, [r["v_beats"] for r in hours], width=0.4, color=COLOURS["V"], label="V beats")
    b.bar(h + 0.7, [r["s_beats"] for r in hours], width=0.4, color=COLOURS["S"], label="S beats")
    b.set_ylabel("ectopy / hour")
    b.set_xlabel("hours from the start")
    b.legend(loc="upper right", fontsize=8)
    return _png(fig)


def _rhythm_band(rhythm: dict) -> str:
    """The rhythm of each window over the recording, one colour per class."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ecgmtl.holter.rhythm import NAMES

    fig, ax = plt.subplots(figsize=(11, 1.1))
    for seg in rhythm["segments"]:
        a, b = seg["start_s"] / 3600, seg["end_s"] / 3600
        ax.axvspan(a, b, color=RHYTHM_COLOURS.get(seg["label"], "black"), lw=0)
    ax.set_yticks([])
    ax.set_xlim(rhythm["segments"][0]["start_s"] / 3600, rhythm["segments"][-1]["end_s"] / 3600)
    ax.set_xlabel("hours from the start")
    handles = [Patch(color=RHYTHM_COLOURS[c], label=NAMES[c]) for c in rhythm["time_share"] if c in RHYTHM_COLOURS]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1.6), ncol=4, fontsize=8, frameon=False)
    return _png(fig)


def _rhythm(report: dict) -> str:
    """The page's rhythm section: the band, the AF figures and the episode table (first 50)."""
    r = report.get("rhythm")
    if not r:
        return "<p>not analysed (--no-rhythm)</p>"
    rows = [
        [clock(e["start_s"]), clock(e["end_s"]), f"{e['duration_s'] / 60:.1f}", _bpm(e["mean_hr_bpm"])]
        for e in r["af"]["episodes"][:50]
    ]
    table = _table(rows, ["start", "end", "minutes", "mean rate (bpm)"]) if rows else ""
    note = (
        f"<p>Rhythm model {html.escape(r['model'])}, one label per {r['window_s']:g}-s window: an episode's start and"
        f" end are known to within a window. Mean rates from the {html.escape(r['af']['rate_from'])}.</p>"
    )
    return f"{_rhythm_band(r)}{note}{table}"


def _bpm(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def _tachogram(times: np.ndarray, labels: np.ndarray) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 2.8))
    if times.size > 1:
        rr = np.diff(times)
        for c, colour in COLOURS.items():
            m = labels[1:] == c
            if m.any():
                ax.scatter(times[1:][m] / 3600, rr[m], s=1.5, color=colour, label=c)
        ax.legend(loc="upper right", fontsize=7, markerscale=4, ncol=6)
    ax.set_ylim(0, min(3.5, float(np.diff(times).max()) * 1.05) if times.size > 1 else 2)
    ax.set_xlabel("hours from the start")
    ax.set_ylabel("RR (s), by the closing beat's class")
    ax.grid(alpha=0.3)
    return _png(fig)


def _strip(run: BeatRun, times: np.ndarray, labels: np.ndarray, centre_s: float, title: str) -> str:
    """10 s around centre_s at 25 mm/s and 10 mm/mV on ECG paper (1 mm and 5 mm grid), beat labels above; the
    signal is read again from the record (engine.filtered_span)."""
    import matplotlib.pyplot as plt

    fs = run.pcfg.fs
    t0 = max(0.0, min(centre_s - STRIP_S / 2, run.source.duration_s - STRIP_S))
    x = filtered_span(run, t0, min(t0 + STRIP_S, run.source.duration_s))
    lo, hi = -1.5, 2.0  # mV shown: 35 mm of paper
    fig = plt.figure(figsize=(STRIP_S * 25 * MM, (hi - lo) * 10 * MM + 0.35))
    ax = fig.add_axes((0, 0, 1, (hi - lo) * 10 * MM / ((hi - lo) * 10 * MM + 0.35)))
    for step, width, colour in ((0.04, 0.3, "#f5c6cb"), (0.2, 0.7, "#e8868f")):  # 1 mm and 5 mm at 25 mm/s
        ax.vlines(t0 + np.arange(0, STRIP_S + 1e-9, step), lo, hi, color=colour, lw=width, zorder=0)
    for step, width, colour in ((0.1, 0.3, "#f5c6cb"), (0.5, 0.7, "#e8868f")):  # 1 mm and 5 mm at 10 mm/mV
        ax.hlines(np.arange(lo, hi + 1e-9, step), t0, t0 + STRIP_S, color=colour, lw=width, zorder=0)
    ax.plot(t0 + np.arange(len(x)) / fs, np.clip(x, lo, hi), color="black", lw=0.7)
    a, b = np.searchsorted(times, [t0, t0 + STRIP_S])
    for t, c in zip(times[a:b], labels[a:b]):
        label = "?" if c == "unclassified" else c
        ax.text(t, hi - 0.25, label, color=COLOURS.get(c, "black"), ha="center", fontsize=8, weight="bold")
    ax.set_xlim(t0, t0 + STRIP_S)
    ax.set_ylim(lo, hi)
    ax.axis("off")
    caption = f"{title}: {clock(t0)} to {clock(t0 + STRIP_S)} (25 mm/s, 10 mm/mV)"
    return f"<p>{html.escape(caption)}</p>{_png(fig)}"


def _templates(run: BeatRun) -> str:
    """The median beat of each class (-0.25 to +0.45 s around the R peak), in mV, from up to
    engine.TEMPLATE_BEATS beats of the class spread over the record (beats the gate held back left out)."""
    import matplotlib.pyplot as plt

    fs = run.pcfg.fs
    classes = [c for c in COLOURS if c in run.templates]
    fig, axes = plt.subplots(1, max(len(classes), 1), figsize=(2.2 * max(len(classes), 1), 2.2), squeeze=False)
    for ax, c in zip(axes[0], classes):
        median, n = run.templates[c]
        ax.plot((np.arange(len(median)) - int(TEMPLATE_PRE_S * fs)) / fs, median, color=COLOURS[c])
        ax.set_title(f"{c} (n={n})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.set_xlabel("s")
    axes[0][0].set_ylabel("mV")
    return _png(fig)


def strip_events(report: dict) -> list[tuple[str, float]]:
    """(title, time in s) of the strips shown: the longest pause, the longest and the fastest run, the minimum
    and the maximum heart rate."""
    out = []
    pauses = report["pauses"]["events"]
    if pauses:
        p = max(pauses, key=lambda e: e["duration_s"])
        out.append((f"Longest pause, {p['duration_s']:.2f} s", p["start_s"] + p["duration_s"] / 2))
    runs = [(k, r) for k in ("ventricular", "supraventricular") for r in report[k]["runs"]]
    if runs:
        k, r = max(runs, key=lambda kr: kr[1]["beats"])
        out.append((f"Longest {k} run, {r['beats']} beats", (r["start_s"] + r["end_s"]) / 2))
        k, r = max(runs, key=lambda kr: kr[1]["rate_bpm"] or 0)
        out.append((f"Fastest {k} run, {r['rate_bpm']:.0f} bpm", (r["start_s"] + r["end_s"]) / 2))
    onset = af_onset(report)
    if onset is not None:
        out.append(onset)
    hr = report["heart_rate"]
    for key in ("min", "max"):
        if hr[f"{key}_bpm"] is not None:
            out.append(
                (
                    f"{'Minimum' if key == 'min' else 'Maximum'} heart rate, {hr[f'{key}_bpm']:.0f} bpm",
                    hr[f"{key}_time_s"],
                )
            )
    return out


def af_onset(report: dict) -> tuple[str, float] | None:
    """(title, centre) of the strip at the onset of the longest AF episode that starts after the recording
    does (the strip begins 2 s before the episode's first window); else of the longest, if any."""
    r = report.get("rhythm")
    episodes = r["af"]["episodes"] if r else []
    if not episodes:
        return None
    later = [e for e in episodes if e["start_s"] > 0]
    e = max(later or episodes, key=lambda e: e["duration_s"])
    what = "AF onset" if later else "AF from the start of the recording"
    return f"{what}, episode of {e['duration_s'] / 60:.1f} min at {_bpm(e['mean_hr_bpm'])} bpm", e["start_s"] + 3.0


def _table(rows: list[list], head: list[str]) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + cells + "</table>"


def render(report: dict, run: BeatRun) -> str:
    """The page's HTML. run: the beat run the report was made from (holter_report)."""
    import matplotlib

    matplotlib.use("Agg")
    beats = ~artefacts(run, EventOptions(**report["options"]))  # the beats the report counted
    times = run.table.samples[beats] / run.source.fs
    labels = np.array(run.table.labels(run.classes))[beats]
    urgent = "".join(f"<li>{html.escape(u)}</li>" for u in report["urgent"]) or "<li>none</li>"
    hourly = _table(
        [
            [
                r["hour"],
                r["beats"],
                *(("-" if r[k] is None else f"{r[k]:.0f}") for k in ("mean_bpm", "min_bpm", "max_bpm")),
                r["v_beats"],
                r["s_beats"],
            ]
            for r in report["heart_rate"]["hourly"]
        ],
        ["hour", "beats", "mean HR", "min HR", "max HR", "V", "S"],
    )
    pauses = _table(
        [[clock(e["start_s"]), f"{e['duration_s']:.2f}"] for e in report["pauses"]["events"][:50]],
        ["start", "duration (s)"],
    )
    runs = _table(
        [
            [
                k[0].upper(),
                clock(r["start_s"]),
                r["beats"],
                "-" if r["rate_bpm"] is None else f"{r['rate_bpm']:.0f}",
                "yes" if r["tachycardia"] else "",
            ]
            for k in ("ventricular", "supraventricular")
            for r in report[k]["runs"][:50]
        ],
        ["class", "start", "beats", "rate (bpm)", "tachycardia"],
    )
    strips = "".join(
        f"<div class=strip>{_strip(run, times, labels, t, title)}</div>" for title, t in strip_events(report)
    )
    name = html.escape(report["record"]["name"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Holter report {name}</title>
<style>body{{font-family:sans-serif;max-width:1150px;margin:1em auto;color:#222}} h1{{font-size:1.4em}}
.urgent{{background:#fff5f5;border:2px solid #e03131;padding:.4em 1em}} .urgent h2{{color:#c92a2a;margin:.2em 0}}
pre{{background:#f8f9fa;padding:.6em;white-space:pre-wrap}} table{{border-collapse:collapse;font-size:.85em;margin:.4em 0}}
td,th{{border:1px solid #ced4da;padding:2px 6px;text-align:right}} img{{max-width:100%}} .strip{{margin:.6em 0}}</style>
</head><body>
<h1>Holter report: record {name}</h1>
<p>Model {html.escape(report["model"]["name"])} ({html.escape(report["provider"])}); ecgmtl, a research tool, not a
medical device. Thresholds: {html.escape(_options(report["options"]))}</p>
<div class=urgent><h2>Urgent findings</h2><ul>{urgent}</ul></div>
<h2>Summary</h2><pre>{html.escape(format_report(report))}</pre>
<h2>Rhythm and atrial fibrillation</h2>{_rhythm(report)}
<h2>Heart-rate trend and ectopy per hour</h2>{_trend(report, times)}
<h2>RR tachogram</h2>{_tachogram(times, labels)}
<h2>Strips</h2>{strips or "<p>no event to show</p>"}
<h2>Beat templates (median beat per class)</h2>{_templates(run)}
<h2>Hourly table</h2>{hourly}
<h2>Pauses over {report["pauses"]["threshold_s"]:g} s (first 50)</h2>{pauses}
<h2>Runs of 3 or more (first 50 of each class)</h2>{runs}
</body></html>
"""


def write_html(report: dict, run: BeatRun, out_dir: Path) -> Path:
    """OUT/<record>.holter.html, written to a temporary name and renamed."""
    path = Path(out_dir) / f"{report['record']['name']}.holter.html"
    page = render(report, run)
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(page)
    except OSError as e:
        raise RecordError(f"cannot write the Holter page into {out_dir} ({e.strerror or e})") from None
    return path


def _options(options: dict) -> str:
    """The report's thresholds as `name value` pairs (names as the CLI's options spell them)."""

    def value(v) -> str:
        return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    return "; ".join(f"{k.replace('_', '-')} {value(v)}" for k, v in options.items())
