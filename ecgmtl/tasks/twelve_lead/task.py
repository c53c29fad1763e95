"""The 12-lead task: PTB-XL's superdiagnostic multi-label classes (NORM MI STTC CD HYP; sigmoid outputs,
binary cross-entropy) and the 12-lead reconstruction with lead masking.

As the benchmark (Strodthoff et al. 2020): random crops of data.crop_s seconds for training (data.crops_per_epoch
per record per epoch), sliding windows (data.stride_s apart) with the maximum over windows at validation and
test. Signals are standardised per lead with the training folds' mean and standard deviation (kept in the model).

Lead masking: a fraction data.mask_prob of the training windows has 1..data.mask_max leads, drawn at random,
zeroed in the input (0 after standardisation, the lead's training mean); the reconstruction target keeps them,
so the model learns to rebuild a lead from the others (`ecgmtl predict --reconstruct-missing`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecgmtl import __version__
from ecgmtl.data.ptbxl import FOLDS, LEADS, RATES, SUPERCLASSES
from ecgmtl.errors import ConfigError
from ecgmtl.tasks.base import TASKS, PredictOptions, Task, TrainData

if TYPE_CHECKING:
    from ecgmtl.config import Config
    from ecgmtl.train.distributed import Context

NAME = "twelve_lead"


@TASKS.register(NAME, aliases=("ptbxl", "ptbxl-superdiagnostic"))
class TwelveLeadTask(Task):
    name = NAME
    classes = SUPERCLASSES
    multilabel = True
    description = "12-lead diagnostic superclass (PTB-XL)"
    score_key = "macro_auc"
    val_keys = (
        "macro_auc",
        "macro_auc_interval",
        "macro_f1",
        "prd",
        "constraints",
        "exclusion_before_projection",
        "thresholds",
    )
    default_model = "ptbxl-xresnet1d.onnx"
    model_env = "ECGMTL_MODEL_12LEAD"
    priority = 10  # before the beat model, for records with the standard leads
    VAL_BOOT = 200  # bootstrap resamples of fold 9 behind the interval logged each epoch

    def check(self, cfg: Config) -> None:
        from ecgmtl.mtl.constraints import check_constraints

        check_constraints(cfg.constraints, SUPERCLASSES, multilabel=True)
        d = cfg.data
        if d.rate not in RATES:
            raise ConfigError(f"data.rate must be 100 or 500 (PTB-XL's files), not {d.rate}")
        for name, value, ok in [
            ("data.crop_s", d.crop_s, 0.5 <= d.crop_s <= 10.0),
            ("data.stride_s", d.stride_s, 0 < d.stride_s <= d.crop_s),
            ("data.crops_per_epoch", d.crops_per_epoch, d.crops_per_epoch >= 1),
            ("data.mask_prob", d.mask_prob, 0 <= d.mask_prob <= 1),
            ("data.mask_max", d.mask_max, 1 <= d.mask_max < len(LEADS)),
            ("data.mask_fill", d.mask_fill, d.mask_fill in ("mean", "regression")),
        ]:
            if not ok:
                raise ConfigError(f"{name} is out of range ({value})")

    # -- training -----------------------------------------------------------------------------------------
    def setup(self, cfg: Config, ctx: Context) -> TrainData:
        import torch

        from ecgmtl.signal.windows import sliding_windows
        from ecgmtl.tasks.twelve_lead.training import load_ptbxl_split, ptbxl_geometry, standardise

        train, val = load_ptbxl_split(cfg, "train"), load_ptbxl_split(cfg, "val")
        self.lead_mean = train.signals.mean(axis=(0, 2)).astype(np.float64)
        self.lead_std = train.signals.std(axis=(0, 2)).astype(np.float64) + 1e-6
        z = standardise(train.signals, self.lead_mean, self.lead_std)
        bounds = (float(z.min()), float(z.max()))
        from ecgmtl.tasks.twelve_lead.leads import lead_correlation

        corr = lead_correlation(z)
        self.lead_corr = torch.from_numpy(corr.astype(np.float32)) if cfg.data.mask_fill == "regression" else None
        window, stride = ptbxl_geometry(cfg)
        if window > z.shape[-1]:
            raise ConfigError(
                f"data.crop_s ({cfg.data.crop_s} s) is longer than the records ({z.shape[-1] / cfg.data.rate:g} s)"
            )
        h = hashlib.sha256()
        for part in (train, val):
            for a in (part.ecg_id, part.targets, part.signals):
                h.update(np.ascontiguousarray(a).tobytes())
        from ecgmtl.mtl.constraints import resolve

        meta = {
            "task": NAME,
            "classes": list(SUPERCLASSES),
            "multilabel": True,
            "leads": list(LEADS),
            "fs": cfg.data.rate,
            "window": window,
            "stride": stride,
            "lead_mean": self.lead_mean.tolist(),
            "lead_std": self.lead_std.tolist(),
            "lead_corr": corr.tolist(),  # of the standardised training leads: the regression fill
            "mask_fill": cfg.data.mask_fill,
            "rr_features": [],
            "rr_mean": [],
            "rr_std": [],
            "recon_bounds": list(bounds),
            "constraints": resolve(cfg.constraints, SUPERCLASSES, bounds),
            "in_leads": len(LEADS),
            "train_records": [int(i) for i in train.ecg_id],
            "val_records": [int(i) for i in val.ecg_id],
            "folds": {k: list(v) for k, v in FOLDS.items()},
            "data_fingerprint": h.hexdigest()[:16],
            "code_version": __version__,
        }
        self.val = val
        # validation windows, standardised: (records, windows, leads, window)
        self.val_windows = torch.from_numpy(
            sliding_windows(standardise(val.signals, self.lead_mean, self.lead_std), window, stride)
        )
        # a random crop anywhere in the record
        return TrainData(z, np.zeros((len(z), 0), np.float32), train.targets, window, z.shape[-1] - window, meta)

    def epoch_indices(
        self, labels: np.ndarray, rng: np.random.Generator, cfg: Config, shuffle: bool = True
    ) -> np.ndarray:
        """Every training record data.crops_per_epoch times (each draw a new random crop)."""
        idx = np.tile(np.arange(len(labels)), cfg.data.crops_per_epoch)
        return rng.permutation(idx) if shuffle else idx

    def classification_loss(self, logits, y, weight, reduction="mean"):
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)  # no class weights, as the benchmark

    def loss_denominator(self, y, weight):
        import torch

        return torch.tensor(float(y.numel()), device=y.device, dtype=y.dtype)  # the mean over records and classes

    def probabilities(self, logits):
        return logits.sigmoid()

    def model_input(self, x, cfg, ctx):
        from ecgmtl.tasks.twelve_lead.training import hide_leads

        return hide_leads(x, cfg.data.mask_prob, cfg.data.mask_max, ctx, getattr(self, "lead_corr", None))

    def validate(self, model, projection, device, dtype, meta: dict) -> dict:
        """Fold 9 as the exported graph computes it: the maximum of the sigmoid outputs over windows, then the
        hard constraints; AUC, F1 at thresholds chosen here, PRD (mV, all leads) and violation rates."""
        from ecgmtl.metrics import bootstrap_auc, constraint_report, multilabel_report, prd
        from ecgmtl.tasks.twelve_lead.training import record_outputs, select_thresholds

        probs, raw, recon = record_outputs(model, projection, self.val_windows, device, dtype)
        targets = self.val.targets
        thresholds = select_thresholds(targets, probs)
        rep = multilabel_report(targets, probs, SUPERCLASSES, thresholds)
        rep["macro_auc_interval"] = bootstrap_auc(targets, probs, self.VAL_BOOT, seed=0)["macro_auc_interval"]
        scale = self.lead_std[None, None, :, None]
        rep["prd"] = prd(self.val_windows.numpy() * scale, recon * scale)
        prob_constraints = [c for c in meta["constraints"] if c["output"] == "probabilities"]
        rep["constraints"] = [c["violation_rate"] for c in constraint_report(probs, None, prob_constraints)]
        ex = [c for c in meta["constraints"] if c.get("exclusive") is not None]
        rep["exclusion_before_projection"] = constraint_report(raw, None, ex[:1])[0]["violation_rate"] if ex else None
        rep["thresholds"] = thresholds
        return rep

    def val_line(self, val: dict) -> str:
        lo, hi = val["macro_auc_interval"]
        return f"val macroAUC={val['macro_auc']:.4f} [{lo:.3f}, {hi:.3f}] macroF1={val['macro_f1']:.4f} PRD={val['prd']:.1f}%"

    def finish(self, result: dict, run: Path, cfg: Config) -> dict:
        from ecgmtl.tasks.twelve_lead.evaluate import NOT_COMPARABLE
        from ecgmtl.train.checkpoint import load_checkpoint

        ck = load_checkpoint(run / "best.pt")
        result["best_val_macro_auc_interval"] = ck["meta"]["val"]["macro_auc_interval"]
        n = len(ck["meta"]["train_records"]) + len(self.val) + _test_count(cfg)
        result["note"] = f"fold 9 ({len(self.val)} records), 90% bootstrap interval; " + NOT_COMPARABLE.format(n=n)
        return result

    # -- export -------------------------------------------------------------------------------------------
    def prepare_export(self, ck, model, cfg, calibrate, data_dir) -> None:
        """Per lead, whether `predict --reconstruct-missing` rebuilds a hidden lead with the network or with
        its regression on the other leads: the lower hidden-lead PRD on the validation fold (fold 9)."""
        if calibrate:
            from ecgmtl.tasks.twelve_lead.export import choose_on_validation

            choose_on_validation(ck, model, cfg)

    def deployable(self, model, meta, graph=False):
        from ecgmtl.tasks.twelve_lead.export import RecordDeployable

        return RecordDeployable(model, meta).eval()

    def example_inputs(self, meta):
        from ecgmtl.tasks.twelve_lead.export import example_inputs

        return example_inputs(meta)

    def metadata(self, ck):
        from ecgmtl.tasks.twelve_lead.export import metadata

        return metadata(ck)

    def attribution(self) -> str:
        from ecgmtl.tasks.twelve_lead.export import ATTRIBUTION

        return ATTRIBUTION

    def export_summary(self, info):
        return {"thresholds": info["thresholds"]}

    # -- prediction and evaluation ------------------------------------------------------------------------
    def accepts(self, record: str | os.PathLike) -> bool:
        from ecgmtl.tasks.twelve_lead.leads import has_twelve_leads

        return has_twelve_leads(record)

    def predict(self, model, path, opts: PredictOptions) -> dict:
        from ecgmtl.errors import RecordError
        from ecgmtl.tasks.twelve_lead.predict import predict_twelve

        if opts.lead:
            raise RecordError("--lead applies to beat models; a 12-lead model reads all its leads")
        result = predict_twelve(model, path, opts.reconstruct_missing)
        if not opts.keep_arrays and not result["reconstructed_leads"]:
            result.pop("_arrays")
        return result

    def format_prediction(self, result: dict) -> str:
        from ecgmtl.tasks.twelve_lead.predict import format_twelve

        return format_twelve(result)

    def write_outputs(self, result: dict, out_dir: Path, opts: PredictOptions) -> list[Path]:
        from ecgmtl.tasks.twelve_lead.predict import write_outputs

        return write_outputs(result, out_dir, opts)

    def summary_csv(self, rows: list[dict], classes: list[str]) -> str:
        from ecgmtl.tasks.twelve_lead.predict import twelve_summary_csv

        return twelve_summary_csv(rows, classes)

    def evaluate(self, model, split, data_dir, boot=1000) -> dict:
        from ecgmtl.tasks.twelve_lead.evaluate import evaluate_twelve

        if boot < 100:
            raise ConfigError("--boot must be at least 100 for a 90% interval")
        if split not in (None, "test", "val", "train"):
            raise ConfigError(
                f"--split {split}: a 12-lead model is evaluated on test (fold 10), val (9) or train (1-8)"
            )
        return evaluate_twelve(model, split or "test", data_dir, None, boot)

    def format_evaluation(self, rep: dict) -> str:
        from ecgmtl.tasks.twelve_lead.evaluate import format_twelve_report

        return format_twelve_report(rep)


def _test_count(cfg: Config) -> int:
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.data.ptbxl import read_table

    records, _ = read_table(database_dir(data_root(cfg.data.data_dir), "ptbxl"), cfg.data.rate)
    return sum(r.fold in FOLDS["test"] for r in records)
