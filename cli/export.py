from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import emit_json, guarded, say


def export(
    run: Annotated[Path, typer.Argument(help="Run folder (its best.pt) or a checkpoint file.")],
    out: Annotated[Path, typer.Option(help="ONNX file to write.")],
    name: Annotated[Optional[str], typer.Option(help="Model name stored in the file (default: file stem).")] = None,
) -> None:
    """Export a checkpoint to ONNX, constraints in the graph, checked against torch."""

    def run_export() -> dict:
        from ecgmtl.export import export_onnx

        return export_onnx(run, out, name)

    res = guarded(run_export)
    d = res["max_abs_diff"]
    say(f"wrote {res['path']} (ONNX Runtime vs torch: max |diff| probabilities {d['probabilities']:.1e}, "
        f"reconstruction {d['reconstruction']:.1e}; tolerance {res['tolerance']:g})")  # fmt: skip
    emit_json(res)
