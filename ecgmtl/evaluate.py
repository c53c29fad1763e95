"""Evaluation of an exported model on annotated MIT-BIH beats (the inter-patient protocol)."""

from __future__ import annotations

import numpy as np

from .data.mitdb import CLASSES, load_beats, resolve_records
from .data.paths import cache_dir, data_root, database_dir
from .errors import ModelError
from .metrics import class_report, constraint_report, prd
from .predict import preprocess_config
from .runtime import OnnxModel


def evaluate_model(model: OnnxModel, split: str = "DS2", data_dir: str | None = None, cache: str | None = None) -> dict:
    """AAMI table, reconstruction PRD and constraint checks of `model` on the annotated beats of `split`.

    Beats are located by the reference annotations, as the published inter-patient results are.
    """
    if tuple(model.meta["classes"]) != CLASSES:
        raise ModelError(f"{model.path} predicts {model.meta['classes']}, not the AAMI classes; it is not an MIT-BIH model")
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
