from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded, say

README_MARKER = "study:mitdb"


def study(
    config: Annotated[Path, typer.Option(help="Study file, e.g. studies/mitdb.yaml.")],
    out: Annotated[Path, typer.Option(help="Study folder: one run per row and seed, table.md, table.csv.")] = Path(
        "runs/study"
    ),
    workers: Annotated[int, typer.Option(help="Runs trained at the same time.")] = 2,
    threads: Annotated[int, typer.Option(help="CPU threads per run.")] = 1,
    readme: Annotated[Optional[Path], typer.Option(help="Write the table into this README's study block.")] = None,
    block: Annotated[
        str, typer.Option("--readme-block", help="The README block written (<!-- NAME --> ... <!-- /NAME -->).")
    ] = README_MARKER,
    dry_run: Annotated[bool, typer.Option(help="List the rows and runs, train nothing.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="The summary as JSON on stdout.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Run a grid of multi-task settings over several seeds on MIT-BIH; print the DS2 table (mean ± sd)."""
    from ecgmtl.readme import readme_block, update_readme
    from ecgmtl.tasks.beats.study import format_table, load_study, run_study

    s = guarded(load_study, config)
    if readme is not None:
        guarded(readme_block, readme, block)  # before hours of training, not after
    say(f"study {config}: {len(s.rows)} settings x {len(s.seeds)} seeds = {len(s.rows) * len(s.seeds)} runs")
    if dry_run:
        for r in s.rows:
            print(f"{r.name}: {' '.join(r.overrides) or '(base config)'}")
        return
    if workers < 1 or threads < 0:
        say("ecgmtl: error: --workers must be >= 1 and --threads >= 0")
        raise typer.Exit(2)
    info = guarded(run_study, s, out, workers, threads, progress)
    table = format_table(s, info["rows"], info)
    if readme is not None:
        cmd = f"ecgmtl study --config {config} --out {out} --workers {workers} --threads {threads}"
        cmd += f" --readme-block {block}" if block != README_MARKER else ""
        guarded(update_readme, readme, block, f"```\n{cmd}\n```\n\n{table}")
        say(f"table written into {readme}")
    if json_:
        emit_json(info)
    else:
        print(table)
    if info["failed"]:
        say(
            f"ecgmtl: error: {len(info['failed'])} of {len(s.rows) * len(s.seeds)} runs failed (listed in {out}/study.json)"
        )
        raise typer.Exit(1)
