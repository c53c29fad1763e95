from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded, say


def holter(
    record: Annotated[Path, typer.Argument(help="A WFDB record (x.dat, x.hea or x), typically 24-48 hours.")],
    out: Annotated[
        Path, typer.Option(help="Folder for <record>.holter.json, the per-beat CSV and annotations.")
    ] = Path("."),
    model: Annotated[Optional[Path], typer.Option(help="Beat model (default: the shipped one).")] = None,
    lead: Annotated[Optional[str], typer.Option(help="Lead to use (default: the model's, e.g. MLII).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    pause_s: Annotated[float, typer.Option(help="A pause is an RR interval longer than this (s).")] = 2.0,
    urgent_pause_s: Annotated[float, typer.Option(help="Pauses of this or longer are urgent (s).")] = 3.0,
    vt_rate: Annotated[float, typer.Option(help="A V run faster than this is VT (bpm).")] = 100.0,
    svt_rate: Annotated[float, typer.Option(help="An S run faster than this is SVT (bpm).")] = 100.0,
    urgent_vt_beats: Annotated[int, typer.Option(help="VT of this many beats or more is urgent.")] = 6,
    urgent_v_burden: Annotated[float, typer.Option(help="Ventricular ectopy over this (%) is urgent.")] = 10.0,
    urgent_svt_s: Annotated[float, typer.Option(help="SVT lasting over this (s) is urgent.")] = 30.0,
    json_: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
) -> None:
    """The Holter report of a long recording (ACC/AHA 1999, ISHNE-HRS 2017): recording and analysable time,
    heart rate, ventricular and supraventricular ectopy, pauses, HRV, urgent findings first. Writes
    OUT/<record>.holter.json, the page OUT/<record>.holter.html (self-contained), OUT/<record>.beats.csv and the
    WFDB annotations OUT/<record>.ecgmtl."""
    from ecgmtl.deploy.models import default_model_path
    from ecgmtl.deploy.predict import write_outputs
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.errors import ConfigError
    from ecgmtl.holter.events import EventOptions
    from ecgmtl.holter.html import write_html
    from ecgmtl.holter.report import format_report, holter_report, write_report
    from ecgmtl.tasks.base import PredictOptions

    def options() -> EventOptions:
        if min(pause_s, urgent_pause_s, vt_rate, svt_rate, urgent_v_burden, urgent_svt_s) <= 0 or urgent_vt_beats < 3:
            raise ConfigError("the Holter thresholds must be positive (and --urgent-vt-beats at least 3)")
        return EventOptions(
            pause_s=pause_s,
            urgent_pause_s=urgent_pause_s,
            vt_rate_bpm=vt_rate,
            svt_rate_bpm=svt_rate,
            urgent_vt_beats=urgent_vt_beats,
            urgent_v_burden_pct=urgent_v_burden,
            urgent_svt_s=urgent_svt_s,
        )

    opts = guarded(options)
    m = guarded(OnnxModel, model or default_model_path(), device)
    say(f"ecgmtl: model {m.name} running on {m.provider}")
    report, beats = guarded(holter_report, m, record, opts, lead)
    for w in beats["record"].get("warnings", []):
        say(f"ecgmtl: warning: {beats['record']['name']}: {w}")
    page = guarded(write_html, report, beats, out)
    files = PredictOptions(outputs={"csv": True, "annotate": True})
    for p in [*guarded(write_outputs, m, beats, out, files), page, guarded(write_report, report, out)]:
        say(f"wrote {p}")
    if json_:
        emit_json(report)
    else:
        print(format_report(report))
