from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded


def doctor(
    model: Annotated[Optional[Path], typer.Option(help="ONNX model to try (default: the shipped one).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="As JSON on stdout.")] = False,
) -> None:
    """Versions, onnxruntime providers, and whether CUDA really runs a model here (checked, not assumed)."""
    from ecgmtl.deploy.doctor import format_report, report

    info = guarded(report, model)
    if json_:
        emit_json(info)
    else:
        print(format_report(info))
