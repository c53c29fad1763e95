from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecgmtl.cli.common import guarded, say

app = typer.Typer(help="Get the PhysioNet databases.", no_args_is_help=True)


@app.command()
def download(
    database: Annotated[str, typer.Argument(help="mitdb, nstdb, ptb-xl or cinc2017.")],
    data_dir: Annotated[Path, typer.Option(help="Folder to download into (DATABASE/ is created in it).")],
) -> None:
    """Download a database from PhysioNet with wfdb (needs the network)."""
    from ecgmtl.data.download import download as dl

    path = guarded(dl, database, data_dir)
    say(f"{database} is in {path}")
