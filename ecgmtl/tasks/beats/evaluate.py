"""Evaluation of an exported model on annotated MIT-BIH beats (the inter-patient protocol)."""

from __future__ import annotations

import numpy as np

from ecgmtl.data.mitdb import CLASSES, load_beats, resolve_records
from ecgmtl.data.paths import cache_dir, data_root, database_dir
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import ModelError
from ecgmtl.metrics import class_report, constraint_report, prd
from ecgmtl.tasks.beats.predict import preprocess_config


def evaluate_model(model: OnnxModel, split: str = "DS2", data_dir: str | None = None, cache: str | None = None) -> dict:
    """AAMI table, reconstruction PRD and constraint checks of `model` on the annotated beats of `split`.

    Beats are located by the reference annotations, as the published inter-patient results are.
    """
    if tuple(model.meta["classes"]) != CLASSES:
        raise ModelError(
            f"{model.path} predicts {model.meta['classes']}, not the AAMI classes; it is not an MIT-BIH model"
        )
    db = database_dir(data_root(data_dir), "mitdb")
    records = resolve_records(split)
    ds = load_beats(db, records, preprocess_config(model.meta), cache_dir(cache))
    x = ds.windows
    probs, recon = model.run(x, ds.rr)
    rep = class_report(ds.labels, probs.argmax(axis=1), CLASSES)
    rep.update(
        split=split if isinstance(split, str) else "custom",
        records=records,
        model=model.name,
        provider=model.provider,
        prd_percent=prd(x[:, 0], recon[:, 0]),  # the lead itself, not the template-difference channel
        probabilities_sum_max_error=float(np.abs(probs.sum(axis=1) - 1.0).max()),
        constraints=constraint_report(probs, recon, model.meta["constraints"]),
    )
    return rep


def format_evaluation(rep: dict) -> str:
    """The AAMI table, the reconstruction PRD and the constraints' violation rates, as `ecgmtl evaluate` prints."""
    from ecgmtl.metrics import format_report

    lines = [
        f"{rep['model']} on MIT-BIH {rep['split']} ({len(rep['records'])} records, beats at the annotated R peaks)",
        format_report(rep, rep["prd_percent"]),
        f"probabilities: max |sum(p) - 1| {rep['probabilities_sum_max_error']:.1e}",
    ]
    for c in rep["constraints"]:
        on = c["output"] + (f" {','.join(c['classes'])}" if c["output"] == "probabilities" else "")
        lo = "-inf" if c["lower"] is None else format(c["lower"], ".4g")
        hi = "inf" if c["upper"] is None else format(c["upper"], ".4g")
        where = "in the graph" if c["in_graph"] else "soft, training only"
        lines.append(
            f"constraint {c['kind']} {on} in [{lo}, {hi}] ({where}): violated by "
            f"{100 * c['violation_rate']:.3f}% of values"
        )
    return "\n".join(lines)
