"""The study's table (`study`: an ecgmtl.tasks.beats.study.Study): mean and standard deviation per setting over seeds, seed-paired differences against the
baseline row, as Markdown and CSV."""

from __future__ import annotations

import numpy as np

METRICS = (  # (key, column title, scale, decimals)
    ("macro_f1", "macro F1", 1.0, 3),
    ("S_se", "S Se %", 100.0, 1),
    ("S_ppv", "S PPV %", 100.0, 1),
    ("V_se", "V Se %", 100.0, 1),
    ("V_ppv", "V PPV %", 100.0, 1),
    ("accuracy", "acc %", 100.0, 1),
    ("prd", "PRD %", 1.0, 1),
    ("macro_f1_noisy", "macro F1 in noise", 1.0, 3),
)


def _metric_keys(study) -> list[str]:
    return [k for k, *_ in METRICS] + [f"report_constraint_{i}" for i in range(len(study.report_constraints))]


def _value(result: dict, key: str) -> float:
    if key.startswith("report_constraint_"):
        return result["report_constraints"][int(key.rsplit("_", 1)[1])]
    return result.get(key, float("nan"))  # runs measured before a metric existed lack it


def _mean_sd(values: list[float]) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def summarise(study, results: list[dict]) -> list[dict]:
    """Mean and standard deviation (over seeds, ddof=1) of each metric for each row, and each row's macro F1
    minus the baseline row's, seed by seed."""
    rows = []
    base = {r["seed"]: r for r in results if r["row"] == study.baseline}
    for row in study.rows:
        rs = [r for r in results if r["row"] == row.name]
        if not rs:
            continue
        stats = {k: _mean_sd([_value(r, k) for r in rs]) for k in _metric_keys(study)}
        for key in ("macro_f1", "macro_f1_noisy"):
            paired = [_value(r, key) - _value(base[r["seed"]], key) for r in rs if r["seed"] in base]
            paired = [d for d in paired if np.isfinite(d)]
            if row.name != study.baseline and paired:
                stats[f"delta_{key}"] = {
                    **_mean_sd(paired),
                    "median": float(np.median(paired)),
                    "range": [float(min(paired)), float(max(paired))],
                    "better_seeds": sum(d > 0 for d in paired),
                    "seeds": len(paired),
                }
        rows.append(
            {
                "row": row.name,
                "axes": dict(row.values),
                "seeds": [r["seed"] for r in rs],
                "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs])),
                "metrics": stats,
            }
        )
    return rows


def _bound_label(c: dict) -> str:
    on = c.get("output", "reconstruction")
    if c.get("classes"):
        on += " " + ",".join(c["classes"])
    parts = ([f"< {c['lower']:g}"] if c.get("lower") is not None else []) + (
        [f"> {c['upper']:g}"] if c.get("upper") is not None else []
    )
    return f"{on} {' or '.join(parts)} %"


def format_table(study, summary: list[dict], info: dict) -> str:
    axes = list(dict.fromkeys(a for r in summary for a in r["axes"]))
    cols = [t for _, t, *_ in METRICS] + [_bound_label(c) for c in study.report_constraints]
    cols += ["Δ macro F1 vs baseline (seeds better)", "Δ in noise (seeds better)"] if study.baseline else []
    lines = ["| " + " | ".join(axes + cols) + " |", "|" + "---|" * len(axes) + "---:|" * len(cols)]
    for r in summary:
        cells = [r["axes"].get(a, "") for a in axes]
        if len(r["seeds"]) < len(study.seeds):  # some runs of this row failed
            cells[-1] += f" (n={len(r['seeds'])})"
        for k, _, scale, dec in METRICS:
            m = r["metrics"][k]
            cells.append(f"{scale * m['mean']:.{dec}f} ± {scale * m['std']:.{dec}f}")
        for i in range(len(study.report_constraints)):
            m = r["metrics"][f"report_constraint_{i}"]
            cells.append(f"{100 * m['mean']:.3f} ± {100 * m['std']:.3f}")
        if study.baseline:
            for key in ("delta_macro_f1", "delta_macro_f1_noisy"):
                d = r["metrics"].get(key)
                cells.append(
                    "baseline"
                    if r["row"] == study.baseline
                    else f"{d['mean']:+.3f} ± {d['std']:.3f} ({d['better_seeds']}/{d['seeds']})"
                    if d
                    else ""
                )
        lines.append("| " + " | ".join(cells) + " |")
    foot = (
        f"\nMean ± standard deviation over seeds {', '.join(map(str, study.seeds))} on MIT-BIH DS2 (beats at the "
        f"annotated R peaks; checkpoint chosen on held-out DS1 records). {info['runs']} runs"
        + (f", {len(info['failed'])} failed" if info["failed"] else "")
        + f"; {info['wall_seconds'] / 60:.1f} min wall clock"
        + (f" (over {info['invocations']} invocations of the command)" if info.get("invocations", 1) > 1 else "")
        + f" with {info['workers']} workers of "
        f"{info['threads_per_run']} thread(s) on {info['cpu_count']} CPU(s) (training time summed over runs: "
        f"{info['run_seconds_total'] / 60:.1f} min). Common settings: {' '.join(study.common) or 'none'}."
        + (
            " Δ: each seed's macro F1 minus the baseline row's with the same seed (mean ± sd; in how many seeds it "
            "was higher). In noise: every DS2 window with NSTDB noise from the second half of each noise record "
            "(ma, bw or both) at 0-12 dB, the same noise for every run."
            if study.baseline
            else ""
        )
        + "\n"
    )
    return "\n".join(lines) + "\n" + foot


def format_csv(study, summary: list[dict]) -> str:
    import csv
    import io

    axes = list(dict.fromkeys(a for r in summary for a in r["axes"]))
    keys = _metric_keys(study)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(axes + [f"{k}_{s}" for k in keys for s in ("mean", "std")] + ["seeds"])
    for r in summary:
        w.writerow(
            [r["axes"].get(a, "") for a in axes]
            + [r["metrics"][k][s] for k in keys for s in ("mean", "std")]
            + [len(r["seeds"])]
        )
    return buf.getvalue()
