from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import emit_json, guarded, say


def predict(
    record: Annotated[Path, typer.Argument(help="WFDB record: x.dat, x.hea or x.")],
    model: Annotated[Optional[Path], typer.Option(help="ONNX model (default: the shipped MIT-BIH model).")] = None,
    lead: Annotated[Optional[str], typer.Option(help="Lead to use (default: the model's, e.g. MLII).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    json_: Annotated[bool, typer.Option("--json", help="Every beat as JSON on stdout.")] = False,
) -> None:
    """Detect and classify every beat of a record (annotations are not used) and reconstruct it."""
    from ecgmtl.predict import default_model_path, format_summary, predict_record
    from ecgmtl.runtime import OnnxModel

    m = guarded(OnnxModel, model or default_model_path(), device)
    why = "" if m.provider.startswith("CUDA") or device == "cpu" else " (no usable GPU)"
    say(f"ecgmtl: model {m.name} running on {m.provider}{why}")
    result = guarded(predict_record, m, record, lead)
    if json_:
        emit_json(result)
    else:
        print(format_summary(result))
