"""ecgmtl: the command-line entry point."""

from __future__ import annotations

from typing import Annotated

import typer

from ecgmtl.cli import data
from ecgmtl.cli.denoise import denoise
from ecgmtl.cli.doctor import doctor
from ecgmtl.cli.evaluate import evaluate
from ecgmtl.cli.export import export
from ecgmtl.cli.holter import holter
from ecgmtl.cli.predict import predict
from ecgmtl.cli.study import study
from ecgmtl.cli.train import train

app = typer.Typer(
    name="ecgmtl",
    help="Multi-task ECG models: train on PhysioNet, export to ONNX, predict on any WFDB record.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from ecgmtl import __version__

        print(f"ecgmtl {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Multi-task ECG models: train on PhysioNet, export to ONNX, predict on any WFDB record."""


app.command()(train)
app.command()(export)
app.command()(evaluate)
app.command()(predict)
app.command()(holter)
app.command()(denoise)
app.command()(study)
app.command()(doctor)
app.add_typer(data.app, name="data")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
