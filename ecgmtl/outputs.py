"""Files `ecgmtl predict` writes beside its JSON: a per-beat CSV, a WFDB annotation file, a summary CSV for
many records. Every file is written to a temporary name and renamed, so a failed run leaves no half file."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from .atomic import atomic_path

# AAMI class -> the standard MIT/WFDB beat code written to annotation files.
WFDB_CODES = {"N": "N", "S": "S", "V": "V", "F": "F", "Q": "Q", "unclassified": "Q"}
ANNOTATION_EXT = "ecgmtl"


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def beats_csv(result: dict) -> str:
    """One row per beat: sample, time, class, each class probability, reconstruction RMSE."""
    classes = list(result["summary"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["record", "sample", "time_s", "class"] + [f"p_{c}" for c in classes] + ["reconstruction_rmse"])
    for b in result["beats"]:
        w.writerow([result["record"]["name"], b["sample"], b["time_s"], b["class"]]
                   + [b["probabilities"][c] for c in classes] + [b["reconstruction_rmse"]])  # fmt: skip
    return buf.getvalue()


def write_annotations(result: dict, out_dir: Path, extension: str = ANNOTATION_EXT) -> Path:
    """The beats as a WFDB annotation file `<record>.<extension>` in out_dir (readable by wfdb.rdann and
    WFDB viewers, beside a copy or link of the record); beat codes from WFDB_CODES."""
    import numpy as np
    import wfdb

    name = result["record"]["name"]
    target = out_dir / f"{name}.{extension}"
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = np.array([b["sample"] for b in result["beats"]], dtype=np.int64)
    symbols = [WFDB_CODES[b["class"]] for b in result["beats"]]
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".ecgmtl-") as tmp:
        if len(samples):
            wfdb.wrann(name, extension, samples, symbol=symbols, fs=result["record"]["fs"], write_dir=tmp)
        else:  # wrann refuses an empty list; an annotation file with no beats is still a valid answer
            Path(tmp, f"{name}.{extension}").write_bytes(b"\x00\x00")
        written = Path(tmp) / f"{name}.{extension}"
        with open(written, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(written, target)
    return target


def summary_csv(rows: list[dict], classes: list[str]) -> str:
    """One row per record: beats per class, PRD, warning; failed records with their reason."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["record", "path", "status", "n_beats"] + classes + ["prd_percent", "duration_s", "message"])
    for r in rows:
        if "error" in r:
            w.writerow([r["name"], r["path"], "failed", "", *[""] * len(classes), "", "", r["error"]])
        else:
            w.writerow([r["record"]["name"], r["record"]["path"], "ok", r["n_beats"]]
                       + [r["summary"].get(c, 0) for c in classes]
                       + [r["reconstruction"]["prd_percent"], r["record"]["duration_s"], r.get("warning", "")])  # fmt: skip
    return buf.getvalue()


def find_records(paths: list[Path]) -> list[Path]:
    """Records named directly (x, x.dat or x.hea, kept as given) and every record (a .hea) inside folders,
    in order, each once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        for q in sorted({h.with_suffix("") for h in p.rglob("*.hea")}) if p.is_dir() else [p]:
            key = q.with_suffix("") if q.suffix in (".dat", ".hea", ".mat") else q
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out
