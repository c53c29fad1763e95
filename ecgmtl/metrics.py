"""Metrics reported by ecgmtl: the AAMI per-class table and reconstruction PRD."""

from __future__ import annotations

import numpy as np


def class_report(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict:
    """Per class Se (recall), PPV (precision), F1 and support; accuracy; macro F1 over the classes present
    in y_true (a class with no true beat has no defined Se), and the confusion matrix (rows: truth)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    ppv, se, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = support > 0
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            c: {"se": float(se[i]), "ppv": float(ppv[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }


def prd(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Percentage root-mean-square difference, mean-removed form, pooled over windows:
    100 * sqrt(sum (x - x_hat)^2 / sum (x - mean_w(x))^2), mean_w taken per window (last axis)."""
    x = np.asarray(x, dtype=np.float64)
    err = np.sum((x - np.asarray(x_hat, dtype=np.float64)) ** 2)
    ref = np.sum((x - x.mean(axis=-1, keepdims=True)) ** 2)
    return float(100.0 * np.sqrt(err / ref)) if ref > 0 else float("nan")


def format_report(rep: dict, prd_value: float | None = None) -> str:
    """The AAMI table as text: one row per class, then accuracy, macro F1 and PRD."""
    lines = [f"{'class':<6}{'Se':>8}{'PPV':>8}{'F1':>8}{'beats':>9}"]
    for c, m in rep["per_class"].items():
        lines.append(f"{c:<6}{100 * m['se']:>8.1f}{100 * m['ppv']:>8.1f}{100 * m['f1']:>8.1f}{m['support']:>9d}")
    lines.append(f"accuracy {rep['accuracy']:.4f}   macro F1 {rep['macro_f1']:.4f}   beats {rep['n']}")
    if prd_value is not None:
        lines.append(f"reconstruction PRD {prd_value:.1f}% (mean-removed, of the lead, pooled over beat windows)")
    return "\n".join(lines)


def match_beats(ref: np.ndarray, found: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest found beat for each reference beat: (index into found, matched within tol samples)."""
    found = np.asarray(found)
    if found.size == 0:
        return np.zeros(len(ref), dtype=np.int64), np.zeros(len(ref), dtype=bool)
    order = np.argsort(found)
    f = found[order]
    j = np.clip(np.searchsorted(f, ref), 1, max(len(f) - 1, 1))
    left = np.clip(j - 1, 0, len(f) - 1)
    j = np.clip(j, 0, len(f) - 1)
    best = np.where(np.abs(f[left] - ref) <= np.abs(f[j] - ref), left, j)
    return order[best], np.abs(f[best] - ref) <= tol


def constraint_report(probs: np.ndarray, recon: np.ndarray, resolved: list[dict]) -> list[dict]:
    """Each declared constraint (see constraints.resolve) with the fraction of its values out of bounds:
    reconstruction samples, or the constrained classes' probabilities. Hard ones are in the model's graph."""
    out = []
    for c in resolved:
        if c.get("exclusive") is not None:  # one value per row: p(exclusive) + max p(other)
            from ecgmtl.mtl.constraints import EXCLUSION_TOLERANCE

            y = probs[:, c["exclusive_index"]] + probs[:, c["index"]].max(axis=1) if len(probs) else probs[:, 0]
            out.append(
                {
                    **{k: c[k] for k in ("output", "kind", "classes", "upper", "exclusive")},
                    "lower": None,
                    "in_graph": c["kind"] == "hard",
                    "tolerance": EXCLUSION_TOLERANCE,
                    "violation_rate": violation_rate(y, None, c["upper"] + EXCLUSION_TOLERANCE),
                }
            )
            continue
        y = probs[:, c["index"]] if c["output"] == "probabilities" else recon
        out.append(
            {
                **{k: c[k] for k in ("output", "kind", "classes", "lower", "upper")},
                "in_graph": c["kind"] == "hard",
                "violation_rate": violation_rate(y, c["lower"], c["upper"]),
            }
        )
    return out


def violation_rate(y: np.ndarray, lower: float | None, upper: float | None) -> float:
    """Fraction of values outside [lower, upper] (None: unbounded on that side)."""
    y = np.asarray(y)
    bad = np.zeros(y.shape, dtype=bool)
    if lower is not None:
        bad |= y < lower
    if upper is not None:
        bad |= y > upper
    return float(bad.mean()) if bad.size else 0.0


def multilabel_report(targets: np.ndarray, probs: np.ndarray, classes, thresholds: list[float]) -> dict:
    """Multi-label figures: per-class ROC-AUC and their mean (macro AUC, over the classes with both labels
    present), and per-class F1 (with Se and PPV) at the given thresholds, and their mean."""
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    per = {}
    for k, c in enumerate(classes):
        t = targets[:, k].astype(int)
        both = 0 < t.sum() < len(t)
        pred = (probs[:, k] >= thresholds[k]).astype(int)
        ppv, se, f1, _ = precision_recall_fscore_support(t, pred, average="binary", zero_division=0)
        per[c] = {
            "auc": float(roc_auc_score(t, probs[:, k])) if both else float("nan"),
            "f1": float(f1),
            "se": float(se),
            "ppv": float(ppv),
            "threshold": float(thresholds[k]),
            "support": int(t.sum()),
        }
    aucs = [m["auc"] for m in per.values() if not np.isnan(m["auc"])]
    return {
        "macro_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "macro_f1": float(np.mean([m["f1"] for m in per.values()])),
        "per_class": per,
        "n": int(len(targets)),
    }


def bootstrap_auc(
    targets: np.ndarray, probs: np.ndarray | list[np.ndarray], n_boot: int = 1000, seed: int = 0, level: float = 0.90
) -> dict:
    """Percentile bootstrap interval (records resampled with replacement) of the macro and per-class ROC-AUC.

    probs: one (records, classes) array, or several (models scored on the same records): each is measured on
    the same resamples, and the differences to the first (paired) come out too. Resamples in which a class has
    one label only are drawn again."""
    from sklearn.metrics import roc_auc_score

    many = isinstance(probs, list)
    models = probs if many else [probs]
    rng = np.random.default_rng(seed)
    n, k = targets.shape
    draws = np.zeros((len(models), n_boot, k))
    b = 0
    while b < n_boot:
        idx = rng.integers(0, n, n)
        t = targets[idx]
        if (t.sum(axis=0) == 0).any() or (t.sum(axis=0) == n).any():
            continue
        for m, p in enumerate(models):
            draws[m, b] = [roc_auc_score(t[:, j], p[idx, j]) for j in range(k)]
        b += 1
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2

    def interval(v: np.ndarray) -> list[float]:
        return [float(np.percentile(v, lo)), float(np.percentile(v, hi))]

    out = []
    for m in range(len(models)):
        macro = draws[m].mean(axis=1)
        item = {
            "macro_auc_interval": interval(macro),
            "per_class_interval": [interval(draws[m, :, j]) for j in range(k)],
        }
        if m:
            diff = macro - draws[0].mean(axis=1)
            item["macro_auc_diff_vs_first"] = {
                "mean": float(diff.mean()),
                "interval": interval(diff),
                "fraction_above_zero": float((diff > 0).mean()),
            }
        out.append(item)
    res = {"n_boot": n_boot, "level": level, "seed": seed}
    return {**res, "models": out} if many else {**res, **out[0]}
