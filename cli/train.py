from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import emit_json, guarded, say


def train(
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, metrics.jsonl, config.yaml.")],
    config: Annotated[Optional[Path], typer.Option(help="YAML config (e.g. configs/mitdb.yaml).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override, e.g. --set train.lr=1e-3.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder holding mitdb/ (default ../shared/physionet).")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Train the multi-task model (reconstruction + AAMI beat classes) on MIT-BIH DS1."""
    from ecgmtl.config import load_config

    overrides = list(set_ or [])
    overrides += [f"data.data_dir={data_dir}"] if data_dir else []
    overrides += [f"train.device={device}"] if device else []
    overrides += [f"train.seed={seed}"] if seed is not None else []
    cfg = guarded(load_config, config, overrides)

    def run() -> dict:
        from ecgmtl.train import train as train_model

        return train_model(cfg, out, progress=progress)

    result = guarded(run)
    say(f"best checkpoint: {out / 'best.pt'} (epoch {result['best_epoch']}, "
        f"validation macro F1 {result['best_val_macro_f1']:.4f})")  # fmt: skip
    emit_json(result)
