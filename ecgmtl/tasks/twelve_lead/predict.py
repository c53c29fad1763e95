"""Prediction on 12-lead records with a 12-lead (PTB-XL) model: diagnostic superclass probabilities for the
record, the decisions at the model's thresholds, the reconstruction error per lead, and, with
`reconstruct_missing`, missing or unusable leads rebuilt from the others (numpy, scipy, wfdb, onnxruntime).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import RecordError
from ecgmtl.signal.resample import resample
from ecgmtl.signal.windows import sliding_windows, stitch
from ecgmtl.tasks.twelve_lead.leads import derive_limb_leads, fill_hidden, lead_key

FLAT_MV = 0.02  # a lead whose range is below this (mV) carries no ECG
MAX_NAN_FRACTION = 0.2  # a lead with more invalid samples than this is unusable


def predict_twelve(model: OnnxModel, path: str | os.PathLike, reconstruct_missing: bool = False) -> dict:
    """One 12-lead record through the model (see the module docstring). Raises RecordError in one line.

    With reconstruct_missing, missing or unusable leads are rebuilt: hidden limb leads from the visible limb
    leads by the limb-lead identities (exact) where two of them are visible; each of the others by the better,
    on the validation fold, of the model's lead-masking reconstruction (the lead hidden from its input as in
    training: its regression on the visible leads, or its mean) and that regression itself ("method")."""
    from ecgmtl.io.record import read_record
    from ecgmtl.metrics import prd

    meta = model.meta
    leads, fs, window, stride = meta["leads"], float(meta["fs"]), int(meta["window"]), int(meta["stride"])
    rec = read_record(path, annotations=False)
    names = [lead_key(n) for n in rec.leads]
    if rec.signal.shape[0] / rec.fs * fs < window:
        raise RecordError(
            f"record {rec.name} lasts {rec.duration_s:.2f} s; the 12-lead model needs at least {window / fs:g} s"
        )
    present = {k: names.index(k) for k in leads if k in names}
    n = int(round(rec.signal.shape[0] * fs / rec.fs))
    signal = np.zeros((len(leads), n), np.float32)
    missing, unusable = [k for k in leads if k not in present], []
    for j, k in enumerate(leads):
        if k not in present:
            continue
        x = rec.signal[:, present[k]].astype(np.float32)
        bad = np.isnan(x)
        if bad.mean() > MAX_NAN_FRACTION or np.nanmax(x) - np.nanmin(x) < FLAT_MV:
            unusable.append(k)  # kept as recorded (NaN as 0) unless rebuilt below
            x = np.nan_to_num(x)
        elif bad.any():  # a few invalid samples: bridged linearly
            x[bad] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), x[~bad])
        signal[j] = resample(x, rec.fs, fs)[:n]
    warnings = list(rec.warnings)
    if missing and not reconstruct_missing:
        raise RecordError(
            f"record {rec.name} lacks lead(s) {', '.join(missing)} (it has {', '.join(rec.leads)}); "
            "pass --reconstruct-missing to rebuild them from the others"
        )
    hidden = missing + unusable if reconstruct_missing else []
    most = int(meta.get("data", {}).get("mask_max", len(leads) - 1))
    if len(hidden) > most:
        raise RecordError(
            f"record {rec.name}: {len(hidden)} leads missing or unusable ({', '.join(hidden)}); "
            f"the model was trained to rebuild at most {most}"
        )
    if unusable and not reconstruct_missing:
        warnings.append(f"lead(s) {', '.join(unusable)} flat or mostly invalid; --reconstruct-missing rebuilds them")
    derived = derive_limb_leads(signal, leads, hidden)  # exact; the model then sees all six limb leads
    rest = [k for k in hidden if k not in derived]
    fill_hidden(signal, leads, rest, meta)  # what lead masking trained with: the regression, or the mean
    wins = sliding_windows(signal[None], window, stride)[0]  # (windows, leads, window)
    probs, recon = model.run(wins[None])
    p = probs[0]
    full = stitch(recon[0], n, stride)
    method = {k: "limb-lead identity" for k in derived}
    for k in rest:  # per lead, the better on the validation fold of the network and the regression
        method[k] = "regression" if meta.get("hidden_method", {}).get(k) == "regression" else "model"
    for k, how in method.items():  # the identity's or the regression's value, not the autoencoder's
        if how != "model":
            full[leads.index(k)] = signal[leads.index(k)]
    thresholds = meta["thresholds"]
    classes = meta["classes"]
    per_lead = {}
    for j, k in enumerate(leads):
        if k in hidden:
            per_lead[k] = {"status": "reconstructed", "method": method[k], "prd_percent": None, "rmse_mv": None}
        else:
            status = "missing" if k in missing else ("unusable" if k in unusable else "ok")
            e = float(np.sqrt(np.mean((full[j] - signal[j]) ** 2)))
            per_lead[k] = {
                "status": status,
                "prd_percent": round(prd(signal[j][None], full[j][None]), 2),
                "rmse_mv": round(e, 4),
            }
    ex = [c for c in meta["constraints"] if c.get("exclusive") is not None and c["kind"] == "hard"]
    result = {
        "model": {"name": model.name, "version": meta["code_version"], "file": str(model.path)},
        "record": {
            "name": rec.name,
            "path": str(path),
            "fs": rec.fs,
            "leads": list(rec.leads),
            "duration_s": round(rec.duration_s, 3),
            "samples": int(rec.signal.shape[0]),
        },
        "provider": model.provider,
        "task": "12-lead diagnostic superclasses (PTB-XL)",
        "windows": int(len(wins)),
        "aggregation": meta["aggregation"] + f"; windows of {window / fs:g} s, {stride / fs:g} s apart, at {fs:g} Hz",
        "probabilities": {c: round(float(v), 5) for c, v in zip(classes, p)},
        "thresholds": {c: round(float(thresholds[c]), 5) for c in classes},
        "diagnoses": [c for c, v in zip(classes, p) if v >= thresholds[c]],
        "reconstruction": {
            "per_lead": per_lead,
            "prd_percent": round(
                prd(
                    signal[[j for j, k in enumerate(leads) if k not in hidden]],
                    full[[j for j, k in enumerate(leads) if k not in hidden]],
                ),
                3,
            ),
            "form": "mean-removed PRD per lead over the record (mV, at the model's rate), overlapping windows averaged",
        },
        "reconstructed_leads": hidden,
    }
    if ex:
        c = ex[0]
        value = float(p[c["exclusive_index"]] + p[c["index"]].max())
        result["constraint"] = {
            "rule": f"p({c['exclusive']}) + max p(other) <= {c['upper']:g}",
            "value": round(value, 6),
            "holds": value <= c["upper"] + 1e-6,
            "in_graph": True,
        }
    if warnings:
        result["record"]["warnings"] = warnings
    result["_arrays"] = {"fs": fs, "leads": list(leads), "signal": signal, "reconstruction": full, "hidden": hidden}
    return result


def write_outputs(result: dict, out_dir: Path, opts) -> list[Path]:
    """A 12-lead result's files: the rebuilt record, if leads were rebuilt (per-beat outputs do not apply)."""
    if any(opts.outputs.values()):
        raise RecordError(
            "--csv, --annotate and --plot are per-beat outputs of beat models; a 12-lead model "
            "writes the rebuilt record (--reconstruct-missing) and JSON"
        )
    arrays = result.pop("_arrays", None)
    if not arrays or not result["reconstructed_leads"]:
        return []
    try:
        return write_rebuilt({**result, "_arrays": arrays}, out_dir)
    except OSError as e:
        raise RecordError(
            f"cannot write the rebuilt record {result['record']['name']} into {out_dir} ({e.strerror or e})"
        ) from None


def write_rebuilt(result: dict, out_dir: Path) -> list[Path]:
    """The record with its hidden leads replaced by their reconstruction: OUT/<name>_rebuilt.{hea,dat}, 12
    leads at the model's rate, in mV (written to a temporary folder, then moved into place)."""
    import shutil
    import tempfile

    import wfdb

    a = result["_arrays"]
    sig = a["signal"].copy()
    for k in a["hidden"]:
        j = a["leads"].index(k)
        sig[j] = a["reconstruction"][j]
    name = f"{result['record']['name']}_rebuilt"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".ecgmtl-") as tmp:
        units = ["mV"] * len(a["leads"])
        wfdb.wrsamp(
            name,
            fs=a["fs"],
            units=units,
            sig_name=list(a["leads"]),
            p_signal=sig.T.astype(np.float64),
            fmt=["16"] * len(units),
            write_dir=tmp,
            comments=[f"ecgmtl: leads {', '.join(a['hidden'])} reconstructed by {result['model']['name']}"],
        )
        for ext in (".hea", ".dat"):
            dst = out_dir / (name + ext)
            shutil.move(str(Path(tmp) / (name + ext)), dst)
            written.append(dst)
    return written


def twelve_summary_csv(rows: list[dict], classes: list[str]) -> str:
    """One row per record: probabilities, diagnoses, PRD, rebuilt leads; failed records with their reason."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["record", "path", "status"]
        + [f"p_{c}" for c in classes]
        + ["diagnoses", "prd_percent", "reconstructed_leads", "duration_s", "message"]
    )
    for r in rows:
        if "error" in r:
            w.writerow([r["name"], r["path"], "failed", *[""] * len(classes), "", "", "", "", r["error"]])
        else:
            w.writerow(
                [r["record"]["name"], r["record"]["path"], "ok"]
                + [r["probabilities"][c] for c in classes]
                + [
                    " ".join(r["diagnoses"]),
                    r["reconstruction"]["prd_percent"],
                    " ".join(r["reconstructed_leads"]),
                    r["record"]["duration_s"],
                    "; ".join(r["record"].get("warnings", [])),
                ]
            )
    return buf.getvalue()


def format_twelve(result: dict) -> str:
    r = result["record"]
    lines = [f"record {r['name']}: {r['duration_s']:.1f} s, {len(r['leads'])} leads, {result['windows']} windows"]
    for w in r.get("warnings", []):
        lines.append(f"warning: {w}")
    lines.append("diagnoses: " + (", ".join(result["diagnoses"]) or "none above its threshold"))
    for c, p in result["probabilities"].items():
        mark = "*" if c in result["diagnoses"] else " "
        lines.append(f"  {mark} {c:<5} p={p:.3f}  (threshold {result['thresholds'][c]:.3f})")
    if "constraint" in result:
        c = result["constraint"]
        lines.append(f"constraint {c['rule']}: {c['value']:.3f} ({'holds' if c['holds'] else 'VIOLATED'})")
    per = result["reconstruction"]["per_lead"]
    lines.append(
        "reconstruction PRD % per lead: "
        + " ".join(
            f"{k} {'rebuilt' if v['prd_percent'] is None else format(v['prd_percent'], '.0f')}" for k, v in per.items()
        )
    )
    if result["reconstructed_leads"]:
        lines.append(f"rebuilt from the other leads: {', '.join(result['reconstructed_leads'])}")
    return "\n".join(lines)
