from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import emit_json, guarded, say


def evaluate(
    model: Annotated[Optional[Path], typer.Option(help="ONNX model (default: the shipped MIT-BIH model).")] = None,
    split: Annotated[Optional[str], typer.Option(help="MIT-BIH: DS1 or DS2 (default DS2). 12-lead model: test (fold 10, default), val or train.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder holding mitdb/ or ptbxl/.")] = None,
    boot: Annotated[int, typer.Option(help="12-lead model: bootstrap resamples for the AUC intervals.")] = 1000,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Print the AAMI table (Se, PPV, F1 of N S V F Q, accuracy, macro F1) and the reconstruction PRD; for a
    12-lead model, PTB-XL fold 10's macro and per-class AUC with bootstrap intervals, F1, PRD and hidden-lead PRD."""
    from ecgmtl.evaluate import evaluate_model
    from ecgmtl.metrics import format_report
    from ecgmtl.predict import default_model_path
    from ecgmtl.runtime import OnnxModel

    m = guarded(OnnxModel, model or default_model_path(), device)
    say(f"model {m.name} on {m.provider}")
    if "leads" in m.meta:
        from ecgmtl.evaluate_ptbxl import evaluate_twelve, format_twelve_report

        if boot < 100:
            say("ecgmtl: error: --boot must be at least 100 for a 90% interval")
            raise typer.Exit(2)
        if split not in (None, "test", "val", "train"):
            say(f"ecgmtl: error: --split {split}: a 12-lead model is evaluated on test (fold 10), val (9) or train (1-8)")
            raise typer.Exit(2)
        rep = guarded(evaluate_twelve, m, split or "test", str(data_dir) if data_dir else None, None, boot)
        if json_:
            emit_json(rep)
        else:
            print(format_twelve_report(rep))
        return
    split = split or "DS2"
    rep = guarded(evaluate_model, m, split, str(data_dir) if data_dir else None)
    if json_:
        emit_json(rep)
        return
    print(f"{m.name} on MIT-BIH {split} ({len(rep['records'])} records, beats at the annotated R peaks)")
    print(format_report(rep, rep["prd_percent"]))
    print(f"probabilities: max |sum(p) - 1| {rep['probabilities_sum_max_error']:.1e}")
    for c in rep["constraints"]:
        on = c["output"] + (f" {','.join(c['classes'])}" if c["output"] == "probabilities" else "")
        bounds = f"[{'-inf' if c['lower'] is None else format(c['lower'], '.4g')}, {'inf' if c['upper'] is None else format(c['upper'], '.4g')}]"
        where = "in the graph" if c["in_graph"] else "soft, training only"
        print(f"constraint {c['kind']} {on} in {bounds} ({where}): violated by {100 * c['violation_rate']:.3f}% of values")
