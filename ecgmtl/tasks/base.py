"""The Task interface: what differs between one kind of model and another (beats of a Holter record, 12-lead
records, ...). The training loop, the exporter, predict and evaluate ask a task and never test a dataset's name.

A task is found by name in TASKS (`config.task`, and the `task` stored in a checkpoint's and an ONNX file's
metadata), or by an import path `package.module:Class` for a task that lives outside ecgmtl. The kind of a
model is read in one place: `ecgmtl.tasks.registry.task_for_meta`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgmtl.errors import RecordError
from ecgmtl.registry import Registry

if TYPE_CHECKING:
    import torch

    from ecgmtl.config import Config
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.train.distributed import Context

TASKS: Registry[type[Task]] = Registry("task", imports=True)
DEFAULT_TASK = "beats"  # a model or checkpoint that names no task was made before tasks had names


@dataclass
class TrainData:
    """What a task's `setup` gives the training loop.

    windows: (n, channels, samples) training signal, each item `window + max_shift` samples long or longer
    (the loop takes a random `window`-sample crop starting at 0..max_shift); a numpy array or a memory-mapped
    one. features: (n, k) standardised side inputs (RR intervals; k may be 0). labels: (n,) class indices or
    (n, classes) multi-hot targets. meta: what the checkpoint and the exported model carry; the loop, the
    checkpoint loader and the exporter read "task", "classes", "in_leads" (channels), "rr_features" (k names,
    the width of `features`), "constraints" (ecgmtl.mtl.constraints.resolve), "train_records", "val_records",
    "data_fingerprint" and "code_version"; the task may add what its export and prediction need."""

    windows: Any
    features: np.ndarray
    labels: np.ndarray
    window: int
    max_shift: int
    meta: dict


@dataclass
class PredictOptions:
    """What `ecgmtl predict` passes to a task; each task refuses, in one line, options it has no use for."""

    lead: str | None = None
    reconstruct_missing: bool = False
    keep_arrays: bool = False  # the signal arrays (for plots and rebuilt records), under "_arrays"
    timings: dict | None = None  # receives seconds per stage
    outputs: dict = field(default_factory=dict)  # per-record files: csv, annotate, plot=(start_s, span_s)
    restorer: Any = None  # a restoration model (OnnxModel): predict on the record it restores (--denoise)
    companions: list = field(default_factory=list)  # models (OnnxModel) of other tasks run on the same record,
    # their results under result[<their task's name>] (the rhythm model beside the beat model)


class Task:
    """One kind of model: its classes, data, losses, validation, exported graph, prediction and evaluation.

    A subclass sets the class attributes and overrides what differs; every method says what it receives.
    Training state (the validation data) lives on the instance `setup` was called on."""

    name = ""
    classes: tuple[str, ...] = ()
    multilabel = False
    score_key = "macro_f1"  # the validation figure that picks the best checkpoint
    val_keys: tuple[str, ...] = ("accuracy", "macro_f1", "prd", "constraints")  # logged in metrics.jsonl
    default_model: str | None = None  # the shipped model's file name (in ecgmtl.shipped)
    model_env: str | None = None  # an environment variable that replaces the shipped model
    priority = 0  # the default model of the highest-priority task that accepts a record predicts it
    description = ""  # one line, for `ecgmtl --help` and error messages
    companion_of: tuple[str, ...] = ()  # tasks whose predictions this task's shipped model joins by default

    # -- configuration and data -------------------------------------------------------------------------
    def check(self, cfg: Config) -> None:
        """Raise ConfigError for task-specific settings out of range (called before anything is read)."""

    def setup(self, cfg: Config, ctx: Context) -> TrainData:
        """Read the training and validation data; keep the validation data on self."""
        raise NotImplementedError

    def epoch_indices(
        self, labels: np.ndarray, rng: np.random.Generator, cfg: Config, shuffle: bool = True
    ) -> np.ndarray:
        """The training items of one epoch, in order (shuffled with `rng` when `shuffle`)."""
        idx = np.arange(len(labels))
        return rng.permutation(idx) if shuffle else idx

    # -- losses -------------------------------------------------------------------------------------------
    def class_weights(self, labels: np.ndarray, cfg: Config) -> np.ndarray | None:
        """Per-class loss weights, or None."""
        return None

    def classification_loss(
        self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, reduction: str = "mean"
    ) -> torch.Tensor:
        raise NotImplementedError

    def loss_denominator(self, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        """What the classification loss's sum is divided by for its mean over this batch (torch.distributed
        adds it over ranks)."""
        raise NotImplementedError

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reconstruction_loss(
        self, recon: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor, reduction: str = "mean"
    ) -> torch.Tensor:
        """The reconstruction head's loss against the target windows, given the model's inputs (model_input:
        the target itself, or a corrupted copy): the mean squared error (reduction "sum": its sum, which
        reconstruction_denominator divides)."""
        import torch.nn.functional as F

        return F.mse_loss(recon, target, reduction=reduction)

    def reconstruction_denominator(self, target: torch.Tensor) -> torch.Tensor:
        """What the reconstruction loss's sum is divided by for its mean over this batch: the sample count."""
        import torch

        return torch.tensor(float(target.numel()), device=target.device)

    def model_input(self, x: torch.Tensor, cfg: Config, ctx: Context) -> torch.Tensor:
        """The model's input for the target windows x (batch, channels, samples): x itself, or x corrupted."""
        return x

    def generators(self) -> dict[str, torch.Generator]:
        """The task's own random generators (model_input's corruption), by name: a checkpoint keeps their
        state so that a resumed run draws what the uninterrupted one would. Under torch.distributed they must
        be the same on every rank (draw for the global batch, take this rank's part)."""
        return {}

    # -- validation ---------------------------------------------------------------------------------------
    def validate(
        self,
        model: torch.nn.Module,
        projection: torch.nn.Module,
        device: torch.device,
        dtype: torch.dtype,
        meta: dict,
    ) -> dict:
        """The validation figures (at least `score_key` and `val_keys`, and `per_class`), computed as the
        exported graph computes its outputs (hard constraints included)."""
        raise NotImplementedError

    def val_line(self, val: dict) -> str:
        return f"val macroF1={val['macro_f1']:.4f} PRD={val['prd']:.1f}%"

    def finish(self, result: dict, run: Path, cfg: Config) -> dict:
        """Add to the result of a finished training run (called on the process that writes)."""
        return result

    # -- export -------------------------------------------------------------------------------------------
    def prepare_export(
        self, ck: dict, model: torch.nn.Module, cfg: Config, calibrate: bool, data_dir: str | None
    ) -> None:
        """Fit what the exported model needs from data (calibration, thresholds) into ck["meta"]."""

    def deployable(self, model: torch.nn.Module, meta: dict, graph: bool = False) -> torch.nn.Module:
        """What the ONNX graph computes, constraints included; returns (probabilities, reconstruction).
        graph: the form that is exported, where it differs from the reference (same function); a module that
        sets `graph_form` (a short description) has it stored in the model's metadata as "graph"."""
        raise NotImplementedError

    def example_inputs(self, meta: dict) -> tuple[dict[str, torch.Tensor], tuple[dict, ...]]:
        """Random inputs for the export and its check: {input name: tensor}, and their dynamic dimensions."""
        raise NotImplementedError

    def metadata(self, ck: dict) -> dict:
        """What prediction needs beyond the common metadata (see ecgmtl.deploy.onnx.common_metadata)."""
        return {}

    def attribution(self) -> str:
        return ""

    def export_summary(self, info: dict) -> dict:
        """Figures for the export's JSON result."""
        return {}

    # -- prediction ---------------------------------------------------------------------------------------
    def accepts(self, record: str | os.PathLike) -> bool:
        """Whether this task's default model should predict the record (read from its header)."""
        return True

    def predict(self, model: OnnxModel, path: str | os.PathLike, opts: PredictOptions) -> dict:
        raise NotImplementedError

    def format_prediction(self, result: dict) -> str:
        raise NotImplementedError

    def companion_part(self, result: dict) -> dict:
        """What of this task's prediction joins another task's result, under result[self.name]."""
        return {k: v for k, v in result.items() if k not in ("record", "task")}

    def format_companion(self, part: dict, record: dict) -> str:
        """companion_part's lines under the main task's."""
        return self.format_prediction({**part, "record": record})

    def write_outputs(self, result: dict, out_dir: Path, opts: PredictOptions) -> list[Path]:
        """The per-record files asked for in opts.outputs."""
        if any(opts.outputs.values()):
            raise RecordError(
                f"{', '.join('--' + k for k, v in opts.outputs.items() if v)}: not written by "
                f"{self.description or self.name} models"
            )
        return []

    def summary_csv(self, rows: list[dict], classes: list[str]) -> str:
        """One row per record of a multi-record prediction (failed records with their reason)."""
        raise NotImplementedError

    # -- evaluation ---------------------------------------------------------------------------------------
    def evaluate(self, model: OnnxModel, split: str | None, data_dir: str | None, boot: int = 1000) -> dict:
        raise NotImplementedError

    def format_evaluation(self, rep: dict) -> str:
        raise NotImplementedError
