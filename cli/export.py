from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded, say


def export(
    run: Annotated[
        list[Path],
        typer.Argument(
            help="Run folder (its best.pt) or a checkpoint file; several runs of one recipe (seeds) become one "
            "model that averages them in the graph."
        ),
    ],
    out: Annotated[Path, typer.Option(help="ONNX file to write.")],
    name: Annotated[Optional[str], typer.Option(help="Model name stored in the file (default: file stem).")] = None,
    calibrate: Annotated[
        bool, typer.Option(help="Fit a softmax temperature and the quality thresholds on the run's validation records.")
    ] = True,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder holding mitdb/ (for --calibrate).")] = None,
    fp16: Annotated[
        bool, typer.Option(help="Also write an FP16 variant (OUT with .fp16.onnx) for GPUs, checked against FP32.")
    ] = False,
) -> None:
    """Export a checkpoint to ONNX, constraints in the graph, checked against torch. A 12-lead (PTB-XL) run
    exports its decision thresholds (chosen on fold 9) and needs no calibration data."""

    def run_export() -> dict:
        from ecgmtl.deploy.onnx import export_onnx

        res = export_onnx(
            run,
            out,
            name,
            calibrate=calibrate,
            data_dir=str(data_dir) if data_dir else None,
        )
        if fp16:
            from ecgmtl.deploy.fp16 import export_fp16

            res["fp16"] = export_fp16(out)
        return res

    res = guarded(run_export)
    d = res["max_abs_diff"]
    say(
        f"wrote {res['path']} (ONNX Runtime vs torch: max |diff| probabilities {d['probabilities']:.1e}, "
        f"reconstruction {d['reconstruction']:.1e}; tolerance {res['tolerance']:g})"
    )
    if "ensemble" in res:
        e = res["ensemble"]
        say(
            f"ensemble of {e['members']} runs (seeds {', '.join(str(m['seed']) for m in e['runs'])}), "
            "probabilities and reconstructions averaged in the graph; each member's calibration temperature: "
            + ", ".join(f"{m['temperature']:.3f}" for m in e["runs"])
        )
    if "fp16" in res:
        h = res["fp16"]
        say(
            f"wrote {h['path']} (FP16 vs FP32: max |diff| probabilities {h['max_abs_diff_vs_fp32']['probabilities']:.1e}, "
            f"reconstruction {h['max_abs_diff_vs_fp32']['reconstruction']:.1e}; tolerance {h['tolerance']:g})"
        )
    c = res.get("calibration")
    if c and c.get("fitted") and "ensemble" not in res:  # an ensemble's members each have theirs (above)
        say(
            f"calibration: temperature {c['temperature']:.3f} on {c['beats']} validation beats; "
            f"ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}, NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}"
        )
    if res.get("thresholds"):
        say("thresholds (fold 9): " + ", ".join(f"{k} {v:.3f}" for k, v in res["thresholds"].items()))
    emit_json(res)
