"""Files `ecgmtl predict` writes beside a beat model's JSON: a per-beat CSV, a WFDB annotation file, a PNG
plot, and a summary CSV for many records. Every file is written to a temporary name and renamed, so a failed run leaves no half file."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.errors import RecordError
from ecgmtl.io.atomic import atomic_path
from ecgmtl.io.outputs import write_text

# AAMI class -> the standard MIT/WFDB beat code written to annotation files.
WFDB_CODES = {"N": "N", "S": "S", "V": "V", "F": "F", "Q": "Q", "unclassified": "Q"}
ANNOTATION_EXT = "ecgmtl"


@dataclass(frozen=True)
class BeatColumns:
    """The per-beat files' content, column by column: from a prediction's beat list (`of_result`) or straight
    from an engine.BeatTable (a Holter report, which keeps no per-beat dicts)."""

    record: str
    fs: float
    classes: list[str]
    samples: np.ndarray  # int, at the record's rate
    labels: list[str]  # class, or "unclassified"
    probs: np.ndarray  # (beats, classes)
    rmse: np.ndarray
    why: list  # str or None

    @classmethod
    def of_run(cls, run) -> BeatColumns:
        """From an engine.BeatRun."""
        t = run.table
        return cls(
            run.source.name, run.source.fs, run.classes, t.samples, t.labels(run.classes), t.probs, t.rmse, t.why
        )

    @classmethod
    def of_result(cls, result: dict) -> BeatColumns:
        classes = [c for c in result["summary"] if c != "unclassified"]
        beats = result["beats"]
        return cls(
            result["record"]["name"],
            result["record"]["fs"],
            classes,
            np.array([b["sample"] for b in beats], dtype=np.int64),
            [b["class"] for b in beats],
            np.array([[b["probabilities"][c] for c in classes] for b in beats], dtype=np.float64).reshape(
                -1, len(classes)
            ),
            np.array([b["reconstruction_rmse"] for b in beats], dtype=np.float64),
            [b.get("quality") for b in beats],
        )


def beats_csv(cols: BeatColumns) -> str:
    """One row per beat: sample, time, class, each class probability, reconstruction RMSE."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["record", "sample", "time_s", "class"] + [f"p_{c}" for c in cols.classes] + ["reconstruction_rmse", "quality"]
    )
    times = np.round(cols.samples / cols.fs, 4).tolist()  # rounded as whole columns: a day has 100,000 beats
    probs = np.round(np.asarray(cols.probs, dtype=np.float64), 5).tolist()
    rmse = np.round(np.asarray(cols.rmse, dtype=np.float64), 5).tolist()
    for s, t, c, pr, e, q in zip(cols.samples.tolist(), times, cols.labels, probs, rmse, cols.why):
        w.writerow([cols.record, s, t, c, *pr, e, q or ""])
    return buf.getvalue()


def write_annotations(cols: BeatColumns, out_dir: Path, extension: str = ANNOTATION_EXT) -> Path:
    """The beats as a WFDB annotation file `<record>.<extension>` in out_dir (readable by wfdb.rdann and
    WFDB viewers, beside a copy or link of the record); beat codes from WFDB_CODES."""
    import wfdb

    name = cols.record
    target = out_dir / f"{name}.{extension}"
    symbols = [WFDB_CODES[c] for c in cols.labels]
    notes = [q or "" for q in cols.why]  # why a beat is unclassified (aux_note)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".ecgmtl-") as d, atomic_path(target) as tmp:
        if len(cols.samples):  # wrann names its file itself: write it in a scratch folder, then move it into place
            wfdb.wrann(name, extension, cols.samples, symbol=symbols, aux_note=notes, fs=cols.fs, write_dir=d)
            os.replace(Path(d) / f"{name}.{extension}", tmp)
        else:  # wrann refuses an empty list; an annotation file with no beats is still a valid answer
            tmp.write_bytes(b"\x00\x00")
    return target


def write_beat_files(cols: BeatColumns, out_dir: Path, csv_: bool = True, annotate: bool = True) -> list[Path]:
    """OUT/<record>.beats.csv and the annotation file, each written atomically; RecordError on a write error."""
    written = []
    try:
        if csv_:
            written.append(write_text(out_dir / f"{cols.record}.beats.csv", beats_csv(cols)))
        if annotate:
            written.append(write_annotations(cols, out_dir))
    except OSError as e:
        raise RecordError(
            f"cannot write the files of record {cols.record} into {out_dir} ({e.strerror or e})"
        ) from None
    return written


def summary_csv(rows: list[dict], classes: list[str]) -> str:
    """One row per record: beats per class, PRD, warning; failed records with their reason."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    classes = [*classes, "unclassified"]
    w.writerow(["record", "path", "status", "n_beats"] + classes + ["prd_percent", "duration_s", "message"])
    for r in rows:
        if "error" in r:
            w.writerow([r["name"], r["path"], "failed", "", *[""] * len(classes), "", "", r["error"]])
        else:
            w.writerow(
                [r["record"]["name"], r["record"]["path"], "ok", r["n_beats"]]
                + [r["summary"].get(c, 0) for c in classes]
                + [r["reconstruction"]["prd_percent"], r["record"]["duration_s"], r.get("warning", "")]
            )
    return buf.getvalue()


CLASS_COLOURS = {
    "N": "#2b8a3e",
    "S": "#1c7ed6",
    "V": "#e03131",
    "F": "#f08c00",
    "Q": "#7048e8",
    "unclassified": "#868e96",
}


def write_plot(result: dict, arrays: dict, path: Path, start_s: float = 0.0, span_s: float = 20.0) -> Path:
    """A PNG report of `span_s` seconds from `start_s`: the filtered lead (mV), each beat's reconstruction
    over it, the beat labels in colour, and the segments that failed the quality checks shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fs, x, off = arrays["fs"], arrays["filtered"], arrays.get("offset", 0)  # x[0] is sample `off` at fs
    a, b = max(int(start_s * fs) - off, 0), min(int((start_s + span_s) * fs) - off, len(x))
    t = (off + np.arange(a, b)) / fs
    fig, ax = plt.subplots(figsize=(max(8.0, span_s * 0.6), 3.6), dpi=110)
    ax.plot(t, x[a:b], color="black", lw=0.8, label="ECG (filtered)")
    pre = arrays["pre"]
    first = True
    for peak, rec in zip(arrays["peaks"], arrays["reconstruction"]):
        s0 = peak - pre - off
        if s0 + len(rec) < a or s0 > b:
            continue
        tt = (off + s0 + np.arange(len(rec))) / fs
        ax.plot(
            tt, rec * arrays["scale_mv"], color="#d6336c", lw=0.9, alpha=0.8, label="reconstruction" if first else None
        )
        first = False
    for seg in result["quality"]["failed_segments"]:
        if seg["end_s"] > start_s and seg["start_s"] < start_s + span_s:
            ax.axvspan(
                max(seg["start_s"], start_s), min(seg["end_s"], start_s + span_s), color="#adb5bd", alpha=0.35, lw=0
            )
    top = float(np.nanmax(x[a:b])) if b > a else 1.0
    for beat in result["beats"]:
        if start_s <= beat["time_s"] <= start_s + span_s:
            c = beat["class"]
            ax.text(
                beat["time_s"],
                top * 1.08,
                "?" if c == "unclassified" else c,
                color=CLASS_COLOURS.get(c, "black"),
                ha="center",
                va="bottom",
                fontsize=8,
                fontweight="bold",
            )
    rec_info = result["record"]
    ax.set_title(
        f"{rec_info['name']} ({rec_info['lead']}), {start_s:g}-{start_s + span_s:g} s; "
        f"grey: failed quality checks, '?': unclassified",
        fontsize=9,
    )
    ax.set_xlim(start_s, start_s + span_s)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mV")
    ax.set_ylim(top=top * 1.25 if top > 0 else None)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def write_outputs(result: dict, out_dir: Path, opts) -> list[Path]:
    """The per-record files asked for in opts.outputs (csv, annotate, plot = (start_s, span_s)), each written
    atomically into out_dir."""
    written = []
    name = result["record"]["name"]
    arrays = result.pop("_arrays", None)
    plot = opts.outputs.get("plot")
    try:
        if plot and arrays is not None:
            written.append(write_plot(result, arrays, out_dir / f"{name}.png", *plot))
    except OSError as e:
        raise RecordError(f"cannot write the files of record {name} into {out_dir} ({e.strerror or e})") from None
    if opts.outputs.get("csv") or opts.outputs.get("annotate"):
        cols = BeatColumns.of_result(result)
        written += write_beat_files(cols, out_dir, bool(opts.outputs.get("csv")), bool(opts.outputs.get("annotate")))
    return written
