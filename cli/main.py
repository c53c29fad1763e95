"""ecgmtl: the command-line entry point."""

from __future__ import annotations

import typer

from . import data
from .doctor import doctor
from .evaluate import evaluate
from .export import export
from .predict import predict
from .study import study
from .train import train

app = typer.Typer(
    name="ecgmtl",
    help="Multi-task ECG models: train on PhysioNet, export to ONNX, predict on any WFDB record.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(train)
app.command()(export)
app.command()(evaluate)
app.command()(predict)
app.command()(study)
app.command()(doctor)
app.add_typer(data.app, name="data")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
