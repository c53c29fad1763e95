from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded, say


def denoise(
    record: Annotated[Path, typer.Argument(help="A WFDB record (x.dat, x.hea or x), any rate, any length.")],
    out: Annotated[Path, typer.Option(help="Folder for the restored record <record>.hea/.dat.")],
    model: Annotated[Optional[Path], typer.Option(help="Restoration model (default: the shipped one).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    json_: Annotated[bool, typer.Option("--json", help="The summary as JSON on stdout.")] = False,
) -> None:
    """Restore every lead of a recording: noise, baseline wander and artefacts taken out by the restoration
    model. Writes OUT/<record>.hea/.dat, a WFDB record with the same leads, rate and length (format 16, 1 uV
    steps), filtered 0.5-40 Hz as the model was trained. A long record goes 30 minutes at a time."""
    from ecgmtl.tasks.restore.engine import open_restoration_model, restore_record

    m = guarded(open_restoration_model, model, device)
    say(f"ecgmtl: model {m.name} running on {m.provider}")
    res = guarded(restore_record, m, record, out)
    say(f"wrote {res.header}")
    say(f"wrote {res.signal_file}")
    summary = {
        "record": res.header.stem,
        "model": m.name,
        "provider": m.provider,
        "fs": res.fs,
        "samples": res.n_samples,
        "duration_s": round(res.n_samples / res.fs, 3),
        "output": [str(res.header), str(res.signal_file)],
        "leads": [
            {"lead": lead, "input_rms_mv": round(i, 4), "removed_rms_mv": round(r, 4)}
            for lead, i, r in zip(res.leads, res.input_rms_mv, res.removed_rms_mv)
        ],
        "removed": "RMS of the input minus the restored lead (mean-removed): noise, baseline wander and artefacts",
    }
    if json_:
        emit_json(summary)
    else:
        for lead in summary["leads"]:
            print(
                f"{lead['lead']}: input RMS {lead['input_rms_mv']:.3f} mV, removed RMS {lead['removed_rms_mv']:.3f} mV"
            )
