"""Evaluation of a 12-lead (PTB-XL) model on a fold, through its ONNX file: macro and per-class ROC-AUC with a
bootstrap interval, F1 at the model's thresholds, the hard constraint's violation rate, reconstruction PRD,
and the PRD of each lead when it is hidden from the input, against two baselines fitted on the training folds.
"""

from __future__ import annotations

import numpy as np

from ecgmtl.data.paths import cache_dir, data_root, database_dir
from ecgmtl.data.ptbxl import load_ptbxl
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.metrics import bootstrap_auc, constraint_report, multilabel_report, prd
from ecgmtl.signal.windows import sliding_windows
from ecgmtl.tasks.twelve_lead.leads import LIMB, LeadBaselines, derive_limb_leads, fill_hidden

LIMB_SET = set(LIMB)

NOT_COMPARABLE = (
    "indicative only: trained and tested on the {n:,} PTB-XL records at hand, not comparable with "
    "the published benchmark (trained on 17,418 records of the full release)"
)
SPLITS = {"test": "fold 10", "val": "fold 9", "train": "folds 1-8"}


def evaluate_twelve(
    model: OnnxModel,
    split: str = "test",
    data_dir: str | None = None,
    cache: str | None = None,
    n_boot: int = 1000,
    hidden: bool = True,
) -> dict:
    """Figures of `model` on a PTB-XL split (see the module docstring)."""
    meta = model.meta
    root = database_dir(data_root(data_dir), "ptbxl")
    ds = load_ptbxl(root, split, int(meta["fs"]), cache_dir(cache))
    leads, classes = list(meta["leads"]), list(meta["classes"])
    windows = sliding_windows(ds.signals, int(meta["window"]), int(meta["stride"]))  # (records, windows, leads, L)
    probs, recon = model.run(windows)
    thresholds = [meta["thresholds"][c] for c in classes]
    rep = multilabel_report(ds.targets, probs, classes, thresholds)
    boot = bootstrap_auc(ds.targets, probs, n_boot)
    for k, c in enumerate(classes):
        rep["per_class"][c]["auc_interval"] = boot["per_class_interval"][k]
    mean, std = np.asarray(meta["lead_mean"])[:, None], np.asarray(meta["lead_std"])[:, None]
    out = {
        "model": model.name,
        "split": split,
        "folds": SPLITS.get(split, split),
        "records": len(ds),
        "fs": int(meta["fs"]),
        "note": NOT_COMPARABLE.format(n=_records_here(root, int(meta["fs"]))),
        **rep,
        "macro_auc_interval": boot["macro_auc_interval"],
        "bootstrap": {k: boot[k] for k in ("n_boot", "level", "seed")},
        "prd_percent": prd(windows, recon),
        "prd_per_lead": {k: prd(windows[:, :, j], recon[:, :, j]) for j, k in enumerate(leads)},
        "prd_form": "mean-removed PRD in mV, pooled over the sliding windows (overlaps counted twice)",
        "constraints": _recon_constraints(probs, recon, mean, std, meta["constraints"]),
    }
    if hidden:
        out["hidden_lead_prd"] = hidden_lead_prd(
            model, windows, load_ptbxl(root, "train", int(meta["fs"]), cache_dir(cache)).signals
        )
    return out


RECON_TOLERANCE = 1e-4  # standardised units: the graph clamps, then returns mV in float32; back here it rounds


def _recon_constraints(probs, recon, mean, std, resolved: list[dict]) -> list[dict]:
    """constraint_report with the reconstruction back in the graph's standardised units, its bounds allowed
    RECON_TOLERANCE for the float32 round trip through mV (a residual reconstruction sits on its bounds
    wherever the input does)."""
    widened = [
        {
            **c,
            "lower": c["lower"] - RECON_TOLERANCE if c["lower"] is not None else None,
            "upper": c["upper"] + RECON_TOLERANCE if c["upper"] is not None else None,
        }
        if c["output"] == "reconstruction"
        else c
        for c in resolved
    ]
    rep = constraint_report(probs, (recon - mean) / std, widened)
    for r, c in zip(rep, resolved):
        if c["output"] == "reconstruction":
            r.update(lower=c["lower"], upper=c["upper"], tolerance=RECON_TOLERANCE)
    return rep


def hidden_lead_prd(model, windows: np.ndarray, train: np.ndarray, meta: dict | None = None) -> dict:
    """Per lead: PRD of the lead rebuilt while hidden from the input (given what lead masking trained with: its
    regression on the other leads, or its training mean), by the model; by its regression on the other eleven
    (the conditional Gaussian of the model's lead correlation, which for one hidden lead is linear regression);
    by what `ecgmtl predict --reconstruct-missing` does (a limb lead by the limb-lead identities, another by
    the model or the regression, whichever the model's "hidden_method" says was better on the validation
    fold); and by the two baselines fitted on the training folds. `model` needs `run(windows)` and, unless
    `meta` is given, `meta`."""
    meta = meta or model.meta
    leads = list(meta["leads"])
    base = LeadBaselines(train)
    choice = meta.get("hidden_method", {})
    rows = {}
    for j, k in enumerate(leads):
        masked = windows.copy()
        fill_hidden(masked, leads, [k], meta)
        _, rec = model.run(masked)
        truth = windows[:, :, j]
        regression = base.predict(windows, j, "linear")
        flat = windows.transpose(2, 0, 1, 3).reshape(len(leads), -1).copy()  # (leads, all samples)
        if derive_limb_leads(flat, leads, [k]):
            ecgmtl = prd(truth, flat[j].reshape(truth.shape))
        elif choice.get(k) == "regression":
            ecgmtl = prd(truth, regression)
        else:
            ecgmtl = prd(truth, rec[:, :, j])
        rows[k] = {
            "model": prd(truth, rec[:, :, j]),
            "ecgmtl": ecgmtl,
            "method": "limb-lead identity" if k in LIMB_SET else choice.get(k, "model"),
            "linear": prd(truth, regression),
            "scaled_mean": prd(truth, base.predict(windows, j, "scaled_mean")),
        }
    return rows


def choose_hidden_methods(rows: dict) -> dict[str, str]:
    """Per lead, "model" or "regression": the lower hidden-lead PRD (the validation fold's rows)."""
    return {k: ("regression" if v["linear"] < v["model"] else "model") for k, v in rows.items()}


def _records_here(root, rate: int) -> int:
    from ecgmtl.data.ptbxl import read_table

    return len(read_table(root, rate)[0])


def format_twelve_report(rep: dict) -> str:
    lvl = int(round(100 * rep["bootstrap"]["level"]))
    lines = [
        f"{rep['model']} on PTB-XL {rep['folds']} ({rep['records']} records at {rep['fs']} Hz)",
        f"note: {rep['note']}",
        f"{'class':<6}{'AUC':>7}  {lvl}% interval   {'F1':>6}{'Se':>7}{'PPV':>7}{'thr':>7}{'records':>9}",
    ]
    for c, m in rep["per_class"].items():
        lo, hi = m["auc_interval"]
        lines.append(
            f"{c:<6}{m['auc']:>7.3f}  [{lo:.3f}, {hi:.3f}] {m['f1']:>7.3f}{100 * m['se']:>7.1f}{100 * m['ppv']:>7.1f}"
            f"{m['threshold']:>7.3f}{m['support']:>9d}"
        )
    lo, hi = rep["macro_auc_interval"]
    lines.append(
        f"macro AUC {rep['macro_auc']:.3f} [{lo:.3f}, {hi:.3f}] ({lvl}% bootstrap interval, "
        f"{rep['bootstrap']['n_boot']} resamples of records)   macro F1 {rep['macro_f1']:.3f} at the stored thresholds"
    )
    lines.append(f"reconstruction PRD {rep['prd_percent']:.1f}% (all leads visible; {rep['prd_form']})")
    for c in rep["constraints"]:
        if c.get("exclusive"):
            what = f"p({c['exclusive']}) + max p(other) <= {c['upper']:g}"
            unit = "records"
        else:
            what = f"{c['output']} in [{c['lower']:.3g}, {c['upper']:.3g}]" if c["lower"] is not None else c["output"]
            unit = "values"
        where = "in the graph" if c["in_graph"] else "soft, training only"
        if (
            c.get("exclusive")
            and not c["in_graph"]
            and any(h.get("exclusive") and h["in_graph"] for h in rep["constraints"])
        ):
            where += (
                "; measured after the hard projection, which enforces it (data_scripts/ptbxl_study.py measures before)"
            )
        lines.append(f"constraint {c['kind']} {what} ({where}): violated by {100 * c['violation_rate']:.3f}% of {unit}")
    if "hidden_lead_prd" in rep:
        lines.append("hidden-lead reconstruction, PRD % (the lead hidden from the input, rebuilt from the others):")
        lines.append(f"  {'lead':<5}{'model':>8}{'predict':>9}{'linear':>9}{'scaled mean':>13}")
        for k, v in rep["hidden_lead_prd"].items():
            lines.append(f"  {k:<5}{v['model']:>8.1f}{v['ecgmtl']:>9.1f}{v['linear']:>9.1f}{v['scaled_mean']:>13.1f}")
        lines.append(
            "  model: the network alone; predict: what --reconstruct-missing gives (limb leads by the limb-lead "
            "identities, chest leads by the network); baselines fitted on folds 1-8: linear regression on "
            "the other 11 leads, and the mean of the other leads after per-lead standardisation, scaled"
        )
    return "\n".join(lines)
