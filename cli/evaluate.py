from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded, say


def evaluate(
    model: Annotated[Optional[Path], typer.Option(help="ONNX model (default: the shipped MIT-BIH model).")] = None,
    split: Annotated[
        Optional[str],
        typer.Option(
            help="Beat model: DS1 or DS2 (default DS2). 12-lead model: test (fold 10, default), val or train."
        ),
    ] = None,
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Folder holding the model's database (mitdb/, ptbxl/, ...).")
    ] = None,
    boot: Annotated[int, typer.Option(help="12-lead model: bootstrap resamples for the AUC intervals.")] = 1000,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    json_: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Evaluate a model on its task's test data: for the beat model the AAMI table (Se, PPV, F1 of N S V F Q,
    accuracy, macro F1) and the reconstruction PRD; for a 12-lead model, PTB-XL fold 10's macro and per-class
    AUC with bootstrap intervals, F1, PRD and hidden-lead PRD."""
    from ecgmtl.deploy.models import default_model_path
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.registry import task_for_meta

    m = guarded(OnnxModel, model or default_model_path(), device)
    say(f"model {m.name} on {m.provider}")
    task = guarded(task_for_meta, m.meta)
    rep = guarded(task.evaluate, m, split, str(data_dir) if data_dir else None, boot)
    if json_:
        emit_json(rep)
    else:
        print(task.format_evaluation(rep))
