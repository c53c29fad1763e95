"""The restoration task: the clean ECG back from a noisy recording, lead by lead, on continuous signal.

The shared encoder (a 1-D U-Net, `model.encoder: unet1d`, `model.residual: true`) feeds a reconstruction
head trained to give the clean band-passed lead from a corrupted one (data.py's `corrupt`: NSTDB noise from
the first half of each noise record, and synthetic artefacts) and a classification head that says whether
the segment holds an S or a V beat (multi-label; the multi-task question is whether each helps the other).
Trained on MIT-BIH DS1 (both leads of every record, whole held-out DS1 records for the checkpoint, chosen by
the mean SNR improvement on fixed corrupted validation segments); tested on DS2 with the second half of the
noise records (`ecgmtl evaluate`, data_scripts/denoise_grid.py). `ecgmtl denoise` runs it on any record.

Config keys that apply: data.train, data.val, data.crop_s (segment length), data.noise_prob,
data.noise_snr_db, data.artefact_prob, preprocess.fs / highpass_hz / lowpass_hz / filter_order, and
task_options.recon_loss (mse or relative) with task_options.floor_db.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ecgmtl import __version__
from ecgmtl.errors import ConfigError, RecordError
from ecgmtl.tasks.base import TASKS, PredictOptions, Task, TrainData

if TYPE_CHECKING:
    from ecgmtl.config import Config
    from ecgmtl.train.distributed import Context

NAME = "restore"
CLASSES = ("S", "V")  # the segment holds at least one beat of the class (AAMI)
MAX_SHIFT = 256  # training segments are this much longer than the window: a random crop each time
VAL_SEED = 12345  # the validation corruption is drawn once, the same for every epoch and run


def relative_floor(cfg: Config) -> float | None:
    """task_options.recon_loss: "mse" (the default) -> None; "relative" -> the power ratio of
    task_options.floor_db (default 30 dB) that the relative loss adds under each segment's clean power."""
    kind = cfg.task_options.get("recon_loss", "mse")
    if kind not in ("mse", "relative"):
        raise ConfigError(f"task_options.recon_loss is {kind!r}: mse or relative")
    if kind == "mse":
        return None
    return 10.0 ** (-float(cfg.task_options.get("floor_db", 30.0)) / 10.0)


def geometry(cfg: Config, multiple: int = 16) -> int:
    """The window in samples at the model rate: data.crop_s seconds, rounded to the encoder's multiple."""
    return max(multiple, int(round(cfg.data.crop_s * cfg.preprocess.fs / multiple)) * multiple)


@TASKS.register(NAME, aliases=("denoise",))
class RestoreTask(Task):
    name = NAME
    classes = CLASSES
    multilabel = True
    description = "ECG restoration (denoising)"
    score_key = "snr_gain_db"
    val_keys = ("snr_gain_db", "prd", "macro_auc", "constraints")
    default_model = "mitdb-denoise.onnx"
    model_env = "ECGMTL_MODEL_DENOISE"
    priority = -10  # never the model `ecgmtl predict` picks for a record (accepts() is False)
    loss_floor: float | None = None  # the relative loss's floor (relative_floor); None: the plain MSE

    def check(self, cfg: Config) -> None:
        from ecgmtl.data.mitdb import resolve_records
        from ecgmtl.mtl.constraints import check_constraints

        check_constraints(cfg.constraints, CLASSES, multilabel=True)
        relative_floor(cfg)
        records = resolve_records(cfg.data.train)
        if not set(cfg.data.val) <= set(records) or set(cfg.data.val) >= set(records):
            raise ConfigError("data.val must be some, not all, of the data.train records")
        if not 1.0 <= cfg.data.crop_s <= 60.0:
            raise ConfigError(f"data.crop_s is out of range ({cfg.data.crop_s}): segments of 1 to 60 s")
        for key in ("noise_prob", "artefact_prob"):
            if not 0.0 <= getattr(cfg.data, key) <= 1.0:
                raise ConfigError(f"data.{key} must be in [0, 1]")

    # -- training -----------------------------------------------------------------------------------------
    def setup(self, cfg: Config, ctx: Context) -> TrainData:
        import torch

        from ecgmtl.augment.corruption import Corruption, corrupt
        from ecgmtl.augment.noise import NoiseBank
        from ecgmtl.data.mitdb import data_fingerprint, resolve_records
        from ecgmtl.data.paths import data_root, database_dir
        from ecgmtl.mtl.constraints import resolve
        from ecgmtl.tasks.restore.data import load_segments

        root = data_root(cfg.data.data_dir)
        db = database_dir(root, "mitdb")
        records = resolve_records(cfg.data.train)
        val_records = list(cfg.data.val)
        train_records = [r for r in records if r not in val_records]
        window = geometry(cfg)
        train = load_segments(db, train_records, cfg.preprocess, window + MAX_SHIFT, window)
        val = load_segments(db, val_records, cfg.preprocess, window, 4 * window)
        if not len(train.x) or not len(val.x):
            raise ConfigError("no training or validation segments: check data.train, data.val and data.crop_s")
        self.bank = NoiseBank(database_dir(root, "nstdb"), cfg.preprocess)
        self.corruption = Corruption(cfg.data.noise_prob, tuple(cfg.data.noise_snr_db), cfg.data.artefact_prob)
        self.fs = cfg.preprocess.fs
        self.loss_floor = relative_floor(cfg)
        self.gen = torch.Generator().manual_seed(cfg.train.seed * 1009)  # the same on every rank (see corrupt)
        self.val_target = torch.from_numpy(val.x)
        every = Corruption(1.0, tuple(cfg.data.noise_snr_db), cfg.data.artefact_prob)  # validation: all noisy
        self.val_input = corrupt(self.val_target, self.bank, every, self.fs, torch.Generator().manual_seed(VAL_SEED))
        self.val_labels = val.labels
        # the graph's amplitude bound: a margin over the clean training range (mV)
        hi = float(np.abs(train.x).max()) * 1.25
        bounds = (-hi, hi)
        meta = {
            "task": NAME,
            "classes": list(CLASSES),
            "multilabel": True,
            "in_leads": 1,
            "fs": cfg.preprocess.fs,
            "window": window,
            "rr_features": [],
            "rr_mean": [],
            "rr_std": [],
            "recon_bounds": list(bounds),
            "constraints": resolve(cfg.constraints, CLASSES, bounds),
            "train_records": train_records,
            "val_records": val_records,
            "train_noise": {
                "nstdb": list(self.bank.kinds),
                "half": "first",
                "prob": cfg.data.noise_prob,
                "snr_db": list(cfg.data.noise_snr_db),
                "artefact_prob": cfg.data.artefact_prob,
            },
            "data_fingerprint": data_fingerprint(db, records),
            "code_version": __version__,
        }
        return TrainData(train.x, np.zeros((len(train.x), 0), np.float32), train.labels, window, MAX_SHIFT, meta)

    def model_input(self, x, cfg, ctx):
        from ecgmtl.augment.corruption import corrupt

        return corrupt(x, self.bank, self.corruption, self.fs, self.gen, (ctx.rank, ctx.world))

    def generators(self):
        return {"corruption": self.gen}

    def classification_loss(self, logits, y, weight, reduction="mean"):
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)

    def loss_denominator(self, y, weight):
        import torch

        return torch.tensor(float(y.numel()), device=y.device, dtype=y.dtype)

    def probabilities(self, logits):
        return logits.sigmoid()

    def reconstruction_loss(self, recon, target, inputs, reduction="mean"):
        """The mean squared error, or with task_options.recon_loss=relative each segment's squared error over
        the noise it was given (its input minus its target) plus a floor `floor_db` under its clean power: the
        loss of a segment is then 1 / its linear SNR improvement, so a clean segment's distortion counts as much
        as a noisy segment's residual noise (the plain MSE lets the noisy ones decide)."""
        if self.loss_floor is None:
            return super().reconstruction_loss(recon, target, inputs, reduction)
        err = (recon - target).pow(2).flatten(1).sum(1)
        given = (inputs - target).pow(2).flatten(1).sum(1) + self.loss_floor * target.pow(2).flatten(1).sum(1)
        ratio = err / given.clamp_min(1e-12)
        return ratio.sum() if reduction == "sum" else ratio.mean()

    def reconstruction_denominator(self, target):
        if self.loss_floor is None:
            return super().reconstruction_denominator(target)
        import torch

        return torch.tensor(float(len(target)), device=target.device)

    def validate(self, model, projection, device, dtype, meta: dict) -> dict:
        """The fixed corrupted validation segments through the model and its hard constraints: the mean SNR
        improvement (dB, against the clean filtered segment), PRD, and the S/V macro AUC."""
        import torch

        from ecgmtl.metrics import constraint_report, prd
        from ecgmtl.tasks.restore.metrics import macro_auc, snr_db

        probs, recon = [], []
        with torch.no_grad():
            for s in range(0, len(self.val_input), 512):
                out = model(self.val_input[s : s + 512].to(device, dtype))
                p, r = projection(torch.sigmoid(out["logits"].float()), out["reconstruction"].float())
                probs.append(p.cpu())
                recon.append(r.cpu())
        p, r = torch.cat(probs).numpy(), torch.cat(recon).numpy()
        clean, noisy = self.val_target.numpy()[:, 0], self.val_input.numpy()[:, 0]
        gain = snr_db(clean, r[:, 0], axis=-1) - snr_db(clean, noisy, axis=-1)
        return {
            "snr_gain_db": float(np.mean(gain)),
            "prd": prd(clean, r[:, 0]),
            "macro_auc": macro_auc(self.val_labels, p),
            "constraints": [c["violation_rate"] for c in constraint_report(p, r, meta["constraints"])],
            "per_class": {},
        }

    def val_line(self, val: dict) -> str:
        return f"val SNR gain={val['snr_gain_db']:.2f} dB PRD={val['prd']:.1f}% S/V AUC={val['macro_auc']:.3f}"

    # -- export -------------------------------------------------------------------------------------------
    def prepare_export(self, ck, model, cfg, calibrate, data_dir) -> None:
        """The gate on the model's correction, chosen on the validation records (export.calibrate_gate)."""
        if calibrate:
            from ecgmtl.tasks.restore.export import calibrate_gate

            calibrate_gate(ck, model, cfg, data_dir)

    def deployable(self, model, meta, graph=False):
        from ecgmtl.tasks.restore.export import Deployable

        return Deployable(model, meta).eval()

    def example_inputs(self, meta):
        from ecgmtl.tasks.restore.export import example_inputs

        return example_inputs(meta)

    def metadata(self, ck):
        from ecgmtl.tasks.restore.export import metadata

        return metadata(ck)

    def attribution(self) -> str:
        from ecgmtl.tasks.restore.export import ATTRIBUTION

        return ATTRIBUTION

    # -- prediction and evaluation ------------------------------------------------------------------------
    def accepts(self, record: str | os.PathLike) -> bool:
        return False  # a restoration model is run by `ecgmtl denoise`, never picked by `predict`

    def predict(self, model, path, opts: PredictOptions) -> dict:
        raise RecordError(f"{model.path.name} is a restoration model: run it with 'ecgmtl denoise RECORD --out DIR'")

    def evaluate(self, model, split, data_dir, boot=1000) -> dict:
        from ecgmtl.tasks.restore.evaluate import evaluate_restoration

        if split not in (None, "DS2", "test", "DS1"):
            raise ConfigError(f"--split {split}: a restoration model is evaluated on DS2 (test) or DS1")
        return evaluate_restoration(model, "DS1" if split == "DS1" else "DS2", data_dir)

    def format_evaluation(self, rep: dict) -> str:
        from ecgmtl.tasks.restore.evaluate import format_table

        return format_table(rep)
