from __future__ import annotations

from contextlib import contextmanager
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
    rhythm_model: Annotated[
        Optional[Path], typer.Option(help="Rhythm model for the AF part (default: the shipped one).")
    ] = None,
    rhythm: Annotated[bool, typer.Option(help="The rhythm and AF part (--no-rhythm: beats only).")] = True,
    lead: Annotated[Optional[str], typer.Option(help="Lead to use (default: the model's, e.g. MLII).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    pause_s: Annotated[float, typer.Option(help="A pause is an RR interval longer than this (s).")] = 2.0,
    urgent_pause_s: Annotated[float, typer.Option(help="Pauses of this or longer are urgent (s).")] = 3.0,
    vt_rate: Annotated[float, typer.Option(help="A V run faster than this is VT (bpm).")] = 100.0,
    svt_rate: Annotated[float, typer.Option(help="An S run faster than this is SVT (bpm).")] = 100.0,
    urgent_vt_beats: Annotated[int, typer.Option(help="VT of this many beats or more is urgent.")] = 6,
    urgent_v_burden: Annotated[float, typer.Option(help="Ventricular ectopy over this (%) is urgent.")] = 10.0,
    urgent_svt_s: Annotated[float, typer.Option(help="SVT lasting over this (s) is urgent.")] = 30.0,
    urgent_af_rate: Annotated[
        float, typer.Option(help="An AF episode with a mean rate over this (bpm) is urgent.")
    ] = 110.0,
    artefact_amplitude: Annotated[
        float,
        typer.Option(
            help="A detection held back by its own quality checks, with an R amplitude under this share of the "
            "record's typical R, is an artefact, not a beat (0: none is)."
        ),
    ] = 0.3,
    json_: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
    progress: Annotated[bool, typer.Option(help="A progress bar on stderr.")] = True,
) -> None:
    """The Holter report of a long recording (ACC/AHA 1999, ISHNE-HRS 2017): recording and analysable time,
    heart rate, ventricular and supraventricular ectopy, pauses, HRV, the rhythm and atrial fibrillation (burden,
    episodes, the longest, its onset strip), urgent findings first. Writes
    OUT/<record>.holter.json, the page OUT/<record>.holter.html (self-contained), OUT/<record>.beats.csv and the
    WFDB annotations OUT/<record>.ecgmtl."""
    from ecgmtl.deploy.models import default_model_path, shipped_model
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.errors import ConfigError
    from ecgmtl.holter.events import EventOptions
    from ecgmtl.holter.html import write_html
    from ecgmtl.holter.report import format_report, holter_report, write_report
    from ecgmtl.holter.rhythm import check_rhythm_model
    from ecgmtl.tasks.beats.outputs import BeatColumns, write_beat_files
    from ecgmtl.tasks.registry import get_task

    def options() -> EventOptions:
        thresholds = (pause_s, urgent_pause_s, vt_rate, svt_rate, urgent_v_burden, urgent_svt_s, urgent_af_rate)
        if min(thresholds) <= 0 or urgent_vt_beats < 3:
            raise ConfigError("the Holter thresholds must be positive (and --urgent-vt-beats at least 3)")
        if not 0 <= artefact_amplitude < 1:
            raise ConfigError("--artefact-amplitude must be at least 0 and under 1")
        return EventOptions(
            pause_s=pause_s,
            urgent_pause_s=urgent_pause_s,
            vt_rate_bpm=vt_rate,
            svt_rate_bpm=svt_rate,
            urgent_vt_beats=urgent_vt_beats,
            urgent_v_burden_pct=urgent_v_burden,
            urgent_svt_s=urgent_svt_s,
            urgent_af_rate_bpm=urgent_af_rate,
            artefact_amplitude=artefact_amplitude,
        )

    opts = guarded(options)
    m = guarded(OnnxModel, model or default_model_path(), device)
    rm = None
    if rhythm:
        rm = guarded(
            check_rhythm_model, guarded(OnnxModel, rhythm_model or shipped_model(get_task("rhythm")), device, 1)
        )
    also = f"; rhythm model {rm.name} on {rm.provider}" if rm else ""
    say(f"ecgmtl: model {m.name} running on {m.provider}{also}")
    with progress_bar(progress) as step:
        report, run = guarded(holter_report, m, record, opts, lead, step, rm)
    for w in report["record"].get("warnings", []):
        say(f"ecgmtl: warning: {report['record']['name']}: {w}")
    page = guarded(write_html, report, run, out)
    for p in [*guarded(write_beat_files, BeatColumns.of_run(run), out), page, guarded(write_report, report, out)]:
        say(f"wrote {p}")
    if json_:
        emit_json(report)
    else:
        print(format_report(report))


@contextmanager
def progress_bar(show: bool):
    """A tqdm bar on stderr over the record's hours; yields the engine's progress(done_s, total_s) callback."""
    import sys

    from tqdm import tqdm

    bar = None

    def step(done_s: float, total_s: float) -> None:
        nonlocal bar
        if bar is None:
            fmt = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} h [{elapsed}<{remaining}]"
            bar = tqdm(total=round(total_s / 3600, 2), desc="holter", file=sys.stderr, disable=not show, bar_format=fmt)
        bar.update(round(done_s / 3600, 2) - bar.n)

    try:
        yield step
    finally:
        if bar is not None:
            bar.close()
