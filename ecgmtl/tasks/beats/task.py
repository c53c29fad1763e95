"""The beat task: AAMI EC57 classes (N S V F Q) of the beats of a Holter-style record, with RR-interval
context, and the reconstruction of each beat window. Trained on MIT-BIH DS1 (whole held-out DS1 records for
the checkpoint), evaluated on DS2: the inter-patient protocol (de Chazal et al. 2004).

Config keys that apply: data.train, data.val, data.test, data.jitter (a random shift of the training windows,
as the detector's offset at prediction), data.noise_prob and data.noise_snr_db (NSTDB noise on the input,
the clean window the reconstruction target: see augment/noise.py), data.lead_dropout (with
preprocess.other_lead: training windows without the other lead), data.s_splice (S-majority copies of the training
records: augment/splice.py), train.class_weight_power, train.n_fraction, and
preprocess.*.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecgmtl import __version__
from ecgmtl.errors import ConfigError
from ecgmtl.tasks.base import TASKS, PredictOptions, Task, TrainData

if TYPE_CHECKING:
    from ecgmtl.config import Config
    from ecgmtl.train.distributed import Context

NAME = "beats"


@TASKS.register(NAME, aliases=("mitdb",))
class BeatTask(Task):
    name = NAME
    description = "beat (AAMI classes)"
    default_model = "mitdb-resnet1d.onnx"
    model_env = "ECGMTL_MODEL"
    priority = 0  # any record with a usable lead

    @property
    def classes(self) -> tuple[str, ...]:
        from ecgmtl.data.mitdb import CLASSES

        return CLASSES

    def check(self, cfg: Config) -> None:
        from ecgmtl.data.mitdb import resolve_records
        from ecgmtl.mtl.constraints import check_constraints

        check_constraints(cfg.constraints, self.classes, multilabel=False)
        records = resolve_records(cfg.data.train)
        missing = [r for r in cfg.data.val if r not in records]
        if missing:
            raise ConfigError(f"validation records {missing} are not in data.train; validation must come from training")
        if set(cfg.data.val) >= set(records):
            raise ConfigError("data.val takes every training record; leave some for training")

    # -- training -----------------------------------------------------------------------------------------
    def setup(self, cfg: Config, ctx: Context) -> TrainData:
        """Training beats (with the jitter margin) and validation beats (whole held-out training records)."""
        import torch

        from ecgmtl.data.mitdb import data_fingerprint, load_beats, resolve_records
        from ecgmtl.data.paths import cache_dir, data_root, database_dir
        from ecgmtl.mtl.constraints import resolve

        db = database_dir(data_root(cfg.data.data_dir), "mitdb")
        records = resolve_records(cfg.data.train)
        val_records = list(cfg.data.val)  # check() has made sure they are training records
        train_records = [r for r in records if r not in val_records]
        if cfg.data.s_splice:  # an S-majority copy of each training record with S beats (augment/splice.py)
            from ecgmtl.augment.splice import MIN_S, SPLICED
            from ecgmtl.data.mitdb import class_counts

            extra = [f"{r}{SPLICED}" for r, n in class_counts(db, train_records).items() if n["S"] >= MIN_S]
            records, train_records = records + extra, train_records + extra
        full = load_beats(db, records, cfg.preprocess, cache_dir(cfg.data.cache_dir), margin=cfg.data.jitter, mmap=True)
        train, val = full.subset(train_records), full.subset(val_records)
        if len(train) == 0 or len(val) == 0:
            raise ConfigError("no training or validation beats: check data.train and data.val")
        self.rr_mean = train.rr.mean(axis=0)
        self.rr_std = train.rr.std(axis=0) + 1e-6
        centered = train.centered()
        bounds = (float(centered.min()), float(centered.max()))
        meta = {
            "task": NAME,
            "classes": list(self.classes),
            "rr_features": list(cfg.preprocess.rr_names),
            "rr_mean": self.rr_mean.tolist(),
            "rr_std": self.rr_std.tolist(),
            "recon_bounds": list(bounds),
            "constraints": resolve(cfg.constraints, self.classes, bounds),
            "in_leads": int(train.windows.shape[1]),
            "train_records": train_records,
            "val_records": val_records,
            "data_fingerprint": data_fingerprint(db, train_records + val_records),
            "code_version": __version__,
        }
        self.noise = None
        if cfg.data.noise_prob > 0:
            from ecgmtl.augment.noise import NoiseBank

            self.noise = NoiseBank(database_dir(data_root(cfg.data.data_dir), "nstdb"), cfg.preprocess)
            # the same on every rank: add_noise draws the global batch's noise and each rank takes its part
            self.noise_gen = torch.Generator().manual_seed(cfg.train.seed * 1009)
            meta["train_noise"] = {
                "nstdb": list(self.noise.kinds),
                "half": "first",
                "prob": cfg.data.noise_prob,
                "snr_db": list(cfg.data.noise_snr_db),
            }
        self.lead_gen = None
        if cfg.preprocess.other_lead and cfg.data.lead_dropout > 0:
            self.lead_gen = torch.Generator().manual_seed(cfg.train.seed * 1013 + 1)
            meta["lead_dropout"] = cfg.data.lead_dropout
        self.val = val
        self.val_x = torch.from_numpy(np.ascontiguousarray(val.centered()))
        self.val_rr = torch.from_numpy(self._std_rr(val.rr))
        # shifts 0..2 * jitter: the window moves by -jitter..+jitter
        return TrainData(
            train.windows, self._std_rr(train.rr), train.labels, cfg.preprocess.window, 2 * cfg.data.jitter, meta
        )

    def _std_rr(self, rr: np.ndarray) -> np.ndarray:
        return ((rr - self.rr_mean) / self.rr_std).astype(np.float32)

    def epoch_indices(
        self, labels: np.ndarray, rng: np.random.Generator, cfg: Config, shuffle: bool = True
    ) -> np.ndarray:
        """All non-N beats and a fresh random fraction (train.n_fraction) of the N beats, shuffled."""
        idx = np.arange(len(labels))
        if cfg.train.n_fraction < 1.0:
            keep = (labels != 0) | (rng.random(len(idx)) < cfg.train.n_fraction)
            idx = idx[keep]
        return rng.permutation(idx) if shuffle else idx

    def model_input(self, x, cfg, ctx):
        """The window with NSTDB noise on a data.noise_prob share (the reconstruction target stays clean), and
        with preprocess.other_lead the other lead's channels zeroed on a data.lead_dropout share, as a one-lead
        record gives them (the reconstruction head then rebuilds the missing lead)."""
        leads = cfg.preprocess.leads
        if getattr(self, "noise", None) is not None:
            from ecgmtl.augment.noise import add_noise

            lo, hi = cfg.data.noise_snr_db
            part = (ctx.rank, ctx.world)
            x = add_noise(x, self.noise, cfg.data.noise_prob, (lo, hi), cfg.preprocess.pre, self.noise_gen, part, leads)
        if leads > 1 and cfg.data.lead_dropout > 0:
            from ecgmtl.augment.noise import drop_lead

            x = drop_lead(x, cfg.data.lead_dropout, cfg.preprocess.lead_channels, self.lead_gen, (ctx.rank, ctx.world))
        return x

    def generators(self):
        gens = {"noise": self.noise_gen} if getattr(self, "noise", None) is not None else {}
        if getattr(self, "lead_gen", None) is not None:
            gens["lead"] = self.lead_gen
        return gens

    def class_weights(self, labels: np.ndarray, cfg: Config) -> np.ndarray:
        from ecgmtl.train.balance import class_weights

        return class_weights(labels, len(self.classes), cfg.train.class_weight_power)

    def classification_loss(self, logits, y, weight, reduction="mean"):
        import torch.nn.functional as F

        return F.cross_entropy(logits, y, weight=weight, reduction=reduction)

    def loss_denominator(self, y, weight):
        return weight[y].sum()  # class-weighted cross-entropy's mean divides by the weights' sum

    def probabilities(self, logits):
        return logits.softmax(dim=-1)

    def validate(self, model, projection, device, dtype, meta: dict) -> dict:
        """Validation beats through the model and its hard constraints, as the exported graph computes them."""
        import torch

        from ecgmtl.metrics import class_report, constraint_report, prd

        probs, recon = [], []
        with torch.no_grad():
            for s in range(0, len(self.val_x), 4096):
                out = model(*(a[s : s + 4096].to(device, dtype) for a in (self.val_x, self.val_rr)))
                out = {k: v.float() for k, v in out.items()}
                p, r = projection(torch.softmax(out["logits"], dim=-1), out["reconstruction"])
                probs.append(p.cpu())
                recon.append(r.cpu())
        p, r = torch.cat(probs).numpy(), torch.cat(recon).numpy()
        rep = class_report(self.val.labels, p.argmax(1), self.classes)
        rep["prd"] = prd(self.val_x[:, 0].numpy(), r[:, 0])  # the lead itself
        rep["constraints"] = [c["violation_rate"] for c in constraint_report(p, r, meta["constraints"])]
        return rep

    def val_line(self, val: dict) -> str:
        return f"val acc={val['accuracy']:.4f} macroF1={val['macro_f1']:.4f} PRD={val['prd']:.1f}%"

    # -- export -------------------------------------------------------------------------------------------
    def prepare_export(self, ck, model, cfg, calibrate, data_dir) -> None:
        from ecgmtl.tasks.beats.export import prepare

        prepare(self, ck, model, cfg, calibrate, data_dir)

    def deployable(self, model, meta, graph=False):
        from ecgmtl.deploy.graph import Deployable

        return Deployable(model, meta, conv2d=graph).eval()

    def example_inputs(self, meta):
        from ecgmtl.deploy.graph import example_inputs

        return example_inputs(meta)

    def metadata(self, ck):
        from ecgmtl.tasks.beats.export import metadata

        return metadata(ck)

    def attribution(self) -> str:
        from ecgmtl.tasks.beats.export import ATTRIBUTION

        return ATTRIBUTION

    def export_summary(self, info):
        return {"calibration": info.get("calibration")}

    # -- prediction and evaluation ------------------------------------------------------------------------
    def predict(self, model, path: str | os.PathLike, opts: PredictOptions) -> dict:
        from ecgmtl.tasks.beats.predict import predict_beats

        return predict_beats(model, path, opts)

    def format_prediction(self, result: dict) -> str:
        from ecgmtl.tasks.beats.predict import format_summary

        return format_summary(result)

    def write_outputs(self, result: dict, out_dir: Path, opts: PredictOptions) -> list[Path]:
        from ecgmtl.tasks.beats.outputs import write_outputs

        return write_outputs(result, out_dir, opts)

    def summary_csv(self, rows: list[dict], classes: list[str]) -> str:
        from ecgmtl.tasks.beats.outputs import summary_csv

        return summary_csv(rows, classes)

    def evaluate(self, model, split, data_dir, boot=1000) -> dict:
        from ecgmtl.tasks.beats.evaluate import evaluate_model

        return evaluate_model(model, split or "DS2", data_dir)

    def format_evaluation(self, rep: dict) -> str:
        from ecgmtl.tasks.beats.evaluate import format_evaluation

        return format_evaluation(rep)
