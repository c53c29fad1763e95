from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import emit_json, guarded, say


def evaluate(
    model: Annotated[Optional[Path], typer.Option(help="ONNX model (default: the shipped MIT-BIH model).")] = None,
    split: Annotated[str, typer.Option(help="DS1 or DS2 (de Chazal inter-patient split).")] = "DS2",
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder holding mitdb/.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Print the AAMI table (Se, PPV, F1 of N S V F Q, accuracy, macro F1) and the reconstruction PRD."""
    from ecgmtl.evaluate import evaluate_model
    from ecgmtl.metrics import format_report
    from ecgmtl.predict import default_model_path
    from ecgmtl.runtime import OnnxModel

    m = guarded(OnnxModel, model or default_model_path(), device)
    say(f"model {m.name} on {m.provider}")
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
