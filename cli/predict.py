from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded, say


def predict(
    records: Annotated[list[Path], typer.Argument(help="WFDB records (x.dat, x.hea or x) or folders of records.")],
    model: Annotated[
        Optional[Path],
        typer.Option(
            help="ONNX model (default: the shipped model for the first record's leads: 12-lead PTB-XL model for 12-lead records, else the MIT-BIH beat model)."
        ),
    ] = None,
    lead: Annotated[Optional[str], typer.Option(help="Lead to use (default: the model's, e.g. MLII).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    json_: Annotated[bool, typer.Option("--json", help="Every beat as JSON on stdout.")] = False,
    out: Annotated[
        Path, typer.Option(help="Folder for --csv, --annotate and, for several records, summary.csv.")
    ] = Path("."),
    csv_: Annotated[bool, typer.Option("--csv", help="Per-beat CSV: OUT/<record>.beats.csv.")] = False,
    annotate: Annotated[
        bool, typer.Option(help="WFDB annotation file OUT/<record>.ecgmtl (wfdb.rdann reads it).")
    ] = False,
    plot: Annotated[
        bool, typer.Option(help="PNG report OUT/<record>.png: signal, reconstruction, labels, failed segments.")
    ] = False,
    plot_start: Annotated[float, typer.Option(help="Start of the plotted stretch, seconds.")] = 0.0,
    plot_span: Annotated[float, typer.Option(help="Length of the plotted stretch, seconds.")] = 20.0,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr for several records.")] = True,
    reconstruct_missing: Annotated[
        bool,
        typer.Option(
            help="12-lead model: rebuild missing or flat leads from the others; writes OUT/<record>_rebuilt.hea/.dat."
        ),
    ] = False,
    denoise: Annotated[
        bool,
        typer.Option(
            help="Restore the record first (the restoration model of `ecgmtl denoise`), then detect and classify on the restored signal."
        ),
    ] = False,
    companions: Annotated[
        bool,
        typer.Option(
            help="Also run the shipped models that join this model's predictions: the rhythm model beside the beat "
            "model (rhythm per 30-s window, AF episodes and burden). --no-companions: the main model alone."
        ),
    ] = True,
    denoise_model: Annotated[
        Optional[Path], typer.Option(help="Restoration model for --denoise (default: the shipped one).")
    ] = None,
) -> None:
    """Detect and classify every beat of one or many records (annotations are not used) and reconstruct it;
    or, for a 12-lead record, give its diagnostic superclasses (NORM MI STTC CD HYP) and rebuild its leads.

    Several records (or a folder): one summary CSV in --out; a record that fails is listed with its reason,
    the others go on, and the exit code is 3 if any failed.
    """
    from collections import Counter

    from ecgmtl.deploy.models import companion_models, default_model_for
    from ecgmtl.deploy.predict import format_result, predict_many, predict_record, summary_csv, write_outputs
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.errors import RecordError
    from ecgmtl.io.outputs import find_records, write_text
    from ecgmtl.io.record import record_base
    from ecgmtl.tasks.base import PredictOptions
    from ecgmtl.tasks.registry import task_for_meta

    paths = find_records(records)
    if not paths:
        say(f"ecgmtl: error: no WFDB record (.hea) in {', '.join(map(str, records))}")
        raise typer.Exit(RecordError.exit_code)
    clash = sorted(n for n, k in Counter(record_base(p).name for p in paths).items() if k > 1)
    if clash:  # their files in --out would overwrite each other
        say(
            f"ecgmtl: error: several records are named {', '.join(clash[:5])}; predict those folders one at a time "
            "with different --out folders"
        )
        raise typer.Exit(2)
    m = guarded(OnnxModel, model or default_model_for(paths[0]), device)
    why = "" if m.provider.startswith("CUDA") or device == "cpu" else " (no usable GPU)"
    task = guarded(task_for_meta, m.meta)
    also = [guarded(OnnxModel, p, device, 1) for p in companion_models(task)] if companions else []
    names = "".join(f"; {task_for_meta(c.meta).name} model {c.name}" for c in also)
    say(f"ecgmtl: model {m.name} running on {m.provider}{why}{names}")
    restorer = None
    if denoise or denoise_model is not None:
        from ecgmtl.tasks.restore.engine import open_restoration_model

        restorer = guarded(open_restoration_model, denoise_model, device, "--denoise-model")
        say(f"ecgmtl: denoising with {restorer.name} on {restorer.provider}")
    outputs = {"csv": csv_, "annotate": annotate, "plot": (plot_start, plot_span) if plot else None}
    opts = PredictOptions(
        lead=lead,
        reconstruct_missing=reconstruct_missing,
        keep_arrays=plot,
        outputs=outputs,
        restorer=restorer,
        companions=also,
    )

    def files(result: dict) -> None:
        for p in write_outputs(m, result, out, opts):
            say(f"wrote {p}")

    if len(paths) == 1 and not records[0].is_dir():
        result = guarded(predict_record, m, paths[0], opts)
        for w in result["record"].get("warnings", []):
            say(f"ecgmtl: warning: {result['record']['name']}: {w}")
        guarded(files, result)
        if json_:
            emit_json(result)
        else:
            print(format_result(m, result, also))
        return
    results, failures = guarded(predict_many, m, paths, opts, progress, files)
    summary = guarded(write_text, out / "summary.csv", summary_csv(m, results + failures))
    for f in failures:
        say(f"ecgmtl: error: {f['path']}: {f['error']}")
    if json_:
        emit_json({"records": results, "failed": failures, "summary_csv": str(summary)})
    else:
        for r in results:
            print(format_result(m, r, also))
        print(f"{len(results)} of {len(paths)} records predicted; summary: {summary}")
    if failures:
        say(f"ecgmtl: error: {len(failures)} of {len(paths)} records failed (listed in {summary})")
        raise typer.Exit(RecordError.exit_code)
