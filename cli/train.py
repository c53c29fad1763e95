from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ecgmtl.cli.common import emit_json, guarded, say


def train(
    out: Annotated[Optional[Path], typer.Option(help="Run folder: checkpoints, metrics.jsonl, config.yaml.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML config (e.g. configs/mitdb.yaml).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override, e.g. --set train.lr=1e-3.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue this run from its last checkpoint.")] = None,
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Folder holding mitdb/ or ptbxl/ (default ../shared/physionet).")
    ] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (Python, NumPy, torch).")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Train the multi-task model (reconstruction + classes), or resume a run: AAMI beat classes on MIT-BIH DS1
    (configs/mitdb.yaml), or PTB-XL's 12-lead diagnostic superclasses (configs/ptbxl.yaml)."""
    from ecgmtl.config import load_config
    from ecgmtl.errors import ConfigError

    overrides = list(set_ or [])
    overrides += [f"data.data_dir={data_dir}"] if data_dir else []
    overrides += [f"train.device={device}"] if device else []
    overrides += [f"train.seed={seed}"] if seed is not None else []

    def resolve():
        if resume is None:
            if out is None:
                raise ConfigError("give --out RUN (a new run folder) or --resume RUN")
            return out, load_config(config, overrides)
        if out is not None and out.resolve() != resume.resolve():
            raise ConfigError("--out and --resume name different folders; --resume RUN continues RUN in place")
        if config is None and not overrides:
            from ecgmtl.train.run import resume_config

            return resume, resume_config(resume)
        return resume, load_config(config, overrides)  # checked against the run's own before anything runs

    run_dir, cfg = guarded(resolve)

    def run() -> dict:
        from ecgmtl.train.run import train as train_model

        return train_model(cfg, run_dir, progress=progress, resume=resume is not None)

    result = guarded(run)
    if "best_epoch" not in result:  # a torch.distributed rank other than 0: rank 0 reports
        return
    metric = result["metric"]
    interval = result.get(f"best_val_{metric}_interval")
    say(
        f"best checkpoint: {run_dir / 'best.pt'} (epoch {result['best_epoch']}, "
        f"validation {metric.replace('_', ' ').replace('macro f1', 'macro F1').replace('auc', 'AUC')} "
        f"{result[f'best_val_{metric}']:.4f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "") + ")"
    )
    if result.get("note"):
        say(f"note: {result['note']}")
    emit_json(result)
