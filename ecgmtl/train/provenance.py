"""What a run folder's run.json says about where and how the run was made."""

from __future__ import annotations

import torch

from ecgmtl import __version__
from ecgmtl.config import Config


def run_record(cfg: Config, meta: dict, placement: dict) -> dict:
    """What makes a run repeatable: seed, code and library versions, the data's hash; and where it ran
    (`placement`: device, data on the device or memory-mapped, bf16, compiled, number of processes)."""
    import platform

    from ecgmtl.deploy.doctor import versions

    libs = {k: v for k, v in versions().items() if v is not None and k != "ecgmtl"}
    return {
        "seed": cfg.train.seed,
        "code_version": __version__,
        "python": platform.python_version(),
        "libraries": libs,
        "threads": torch.get_num_threads(),
        "data_fingerprint": meta["data_fingerprint"],
        "train_records": meta["train_records"],
        "val_records": meta["val_records"],
        "data_loader_workers": 0,  # the arrays live in memory (or on the device): no worker processes to seed
        **placement,
    }
