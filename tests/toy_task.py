"""A toy task that lives outside ecgmtl, to show that a new task needs no edit to the training loop, the
exporter, predict or evaluate: it is named by its import path (`task: toy_task:ToyTask` in a config).

Two classes of single-channel synthetic signals at FS = 100 Hz, windows of WINDOW = 128 samples (1.28 s):
"sine" (class 0), a sine wave, and "square" (class 1), a square wave of the same kind; each with a random
frequency (2-5 Hz), amplitude (0.5-1.5 mV) and phase, plus Gaussian noise (0.1 mV). Generated
deterministically from a seed: training from train.seed, validation from train.seed + 1, the evaluation's
held-out split from TEST_SEED. The sizes are constants here; a task reads settings of its own from
cfg.task_options (`--set task_options.KEY=VALUE`).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ecgmtl import __version__
from ecgmtl.errors import ConfigError, RecordError
from ecgmtl.tasks.base import Task, TrainData

FS = 100.0
WINDOW = 128
MAX_SHIFT = 16  # the loop crops a random WINDOW from each WINDOW + MAX_SHIFT training signal
N_TRAIN, N_VAL, N_TEST = 1024, 256, 512
TEST_SEED = 2024


def wave(kind: int, n: int, freq: float, amp: float, phase: float, fs: float = FS) -> np.ndarray:
    """n samples of a sine (kind 0) or square (kind 1) wave, no noise."""
    s = np.sin(2 * np.pi * freq * np.arange(n) / fs + phase)
    return amp * (s if kind == 0 else np.sign(s))


def synthetic(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n signals (n, 1, length) float32, and their classes (n,) int64, half of each, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    x = np.stack(
        [
            wave(int(c), length, rng.uniform(2, 5), rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi))
            + rng.normal(0, 0.1, length)
            for c in labels
        ]
    )
    return x[:, None, :].astype(np.float32), labels


class ToyTask(Task):
    name = "toy_task:ToyTask"  # the import path: checkpoints and exported models find the task again by it
    classes = ("sine", "square")
    multilabel = False
    score_key = "macro_f1"
    val_keys = ("accuracy", "macro_f1", "prd", "constraints")
    description = "toy (synthetic sine vs square)"

    def check(self, cfg) -> None:
        from ecgmtl.mtl.constraints import check_constraints

        check_constraints(cfg.constraints, self.classes, multilabel=False)

    # -- training -----------------------------------------------------------------------------------------
    def setup(self, cfg, ctx) -> TrainData:
        from ecgmtl.mtl.constraints import resolve

        x, y = synthetic(N_TRAIN, WINDOW + MAX_SHIFT, cfg.train.seed)
        self.val_x, self.val_y = synthetic(N_VAL, WINDOW, cfg.train.seed + 1)
        bounds = (float(x.min()), float(x.max()))
        h = hashlib.sha256()
        for a in (x, y, self.val_x, self.val_y):
            h.update(a.tobytes())
        meta = {
            "task": self.name,
            "classes": list(self.classes),
            "in_leads": 1,
            "rr_features": [],
            "rr_mean": [],
            "rr_std": [],
            "recon_bounds": list(bounds),
            "constraints": resolve(cfg.constraints, self.classes, bounds),
            "train_records": [f"synthetic seed {cfg.train.seed}, {N_TRAIN} signals"],
            "val_records": [f"synthetic seed {cfg.train.seed + 1}, {N_VAL} signals"],
            "data_fingerprint": h.hexdigest()[:16],
            "code_version": __version__,
            "fs": FS,
            "window": WINDOW,
        }
        return TrainData(x, np.zeros((len(x), 0), np.float32), y, WINDOW, MAX_SHIFT, meta)

    def classification_loss(self, logits, y, weight, reduction="mean"):
        import torch.nn.functional as F

        return F.cross_entropy(logits, y, weight=weight, reduction=reduction)

    def loss_denominator(self, y, weight):
        import torch

        return weight[y].sum() if weight is not None else torch.tensor(float(len(y)), device=y.device)

    def probabilities(self, logits):
        return logits.softmax(dim=-1)

    def validate(self, model, projection, device, dtype, meta: dict) -> dict:
        import torch

        from ecgmtl.metrics import class_report, constraint_report, prd

        with torch.no_grad():
            out = model(torch.from_numpy(self.val_x).to(device, dtype))
            p, r = projection(out["logits"].float().softmax(dim=-1), out["reconstruction"].float())
        p, r = p.cpu().numpy(), r.cpu().numpy()
        rep = class_report(self.val_y, p.argmax(axis=1), self.classes)
        rep["prd"] = prd(self.val_x[:, 0], r[:, 0])
        rep["constraints"] = [c["violation_rate"] for c in constraint_report(p, r, meta["constraints"])]
        return rep

    def val_line(self, val: dict) -> str:
        return f"val acc={val['accuracy']:.4f} macroF1={val['macro_f1']:.4f} PRD={val['prd']:.1f}%"

    # -- export -------------------------------------------------------------------------------------------
    def deployable(self, model, meta, graph=False):
        import torch

        from ecgmtl.deploy.onnx import declared_constraints
        from ecgmtl.mtl.constraints import HardProjection

        class Deployable(torch.nn.Module):
            """x (batch, 1, WINDOW) in mV -> softmax probabilities (batch, 2), reconstruction (batch, 1, WINDOW),
            both through the hard constraints."""

            def __init__(self) -> None:
                super().__init__()
                self.model = model
                self.project = HardProjection(declared_constraints(meta), len(meta["classes"]))

            def forward(self, x):
                out = self.model(x)
                return self.project(out["logits"].softmax(dim=-1), out["reconstruction"])

        return Deployable().eval()

    def example_inputs(self, meta):
        """meta: a checkpoint's (at export) or an exported model's (the FP16 variant's check)."""
        import torch

        channels, window = meta["inputs"]["x"][1:] if "inputs" in meta else (meta["in_leads"], meta["window"])
        x = torch.randn(32, channels, window, generator=torch.Generator().manual_seed(0))
        return {"x": x}, ({0: torch.export.Dim("batch", min=1)},)

    def metadata(self, ck):
        meta = ck["meta"]
        return {
            "inputs": {"x": ["batch", meta["in_leads"], meta["window"]]},
            "input_units": "mV",
            "fs": meta["fs"],
            "window": meta["window"],
            "probabilities": "softmax",
            "val": meta["val"],
        }

    # -- prediction and evaluation ------------------------------------------------------------------------
    def predict(self, model, path, opts) -> dict:
        from ecgmtl.io.record import read_record
        from ecgmtl.metrics import prd

        if opts.lead or opts.reconstruct_missing:
            raise RecordError("--lead and --reconstruct-missing do not apply to toy models (one channel)")
        rec = read_record(path, annotations=False)
        fs, window = model.meta["fs"], model.meta["window"]
        if rec.fs != fs:
            raise RecordError(f"record {rec.name}: sampled at {rec.fs:g} Hz; the toy model takes {fs:g} Hz")
        n = rec.signal.shape[0] // window
        if n == 0:
            raise RecordError(f"record {rec.name}: shorter than one window ({window} samples)")
        x = np.nan_to_num(rec.signal[: n * window, 0]).reshape(n, 1, window)
        probs, recon = model.run(x)
        classes = model.meta["classes"]
        pred = probs.argmax(axis=1)
        counts = {c: int((pred == k).sum()) for k, c in enumerate(classes)}
        return {
            "model": model.name,
            "task": self.name,
            "provider": model.provider,
            "record": {
                "name": rec.name,
                "path": str(path),
                "fs": rec.fs,
                "duration_s": rec.duration_s,
                "warnings": list(rec.warnings),
            },
            "n_windows": n,
            "summary": counts,
            "class": max(counts, key=counts.get),
            "prd_percent": prd(x[:, 0], recon[:, 0]),
            "windows": [
                {"start_s": k * window / fs, "class": classes[int(pred[k])], "p": dict(zip(classes, map(float, p)))}
                for k, p in enumerate(probs)
            ],
        }

    def format_prediction(self, result: dict) -> str:
        counts = ", ".join(f"{c} {v}" for c, v in result["summary"].items())
        return f"{result['record']['name']}: {result['class']} ({result['n_windows']} windows: {counts})"

    def summary_csv(self, rows: list[dict], classes: list[str]) -> str:
        lines = [",".join(["record", "path", "status", "class", "n_windows", *classes, "message"])]
        for r in rows:
            if "error" in r:
                lines.append(",".join([r["name"], r["path"], "failed", "", "", *[""] * len(classes), r["error"]]))
            else:
                rec = r["record"]
                counts = [str(r["summary"][c]) for c in classes]
                lines.append(",".join([rec["name"], rec["path"], "ok", r["class"], str(r["n_windows"]), *counts, ""]))
        return "\n".join(lines) + "\n"

    def evaluate(self, model, split, data_dir, boot=1000) -> dict:
        from ecgmtl.metrics import class_report, constraint_report, prd

        if split not in (None, "test"):
            raise ConfigError(f"--split {split}: a toy model is evaluated on its synthetic test split only")
        if data_dir is not None:
            raise ConfigError("--data-dir: a toy model's test data is synthetic")
        x, y = synthetic(N_TEST, model.meta["window"], TEST_SEED)
        probs, recon = model.run(x)
        rep = class_report(y, probs.argmax(axis=1), model.meta["classes"])
        rep.update(
            split="test",
            seed=TEST_SEED,
            model=model.name,
            provider=model.provider,
            prd_percent=prd(x[:, 0], recon[:, 0]),
            probabilities_sum_max_error=float(np.abs(probs.sum(axis=1) - 1.0).max()),
            constraints=constraint_report(probs, recon, model.meta["constraints"]),
        )
        return rep

    def format_evaluation(self, rep: dict) -> str:
        from ecgmtl.metrics import format_report

        head = f"{rep['model']} on the toy test split ({rep['n']} synthetic signals, seed {rep['seed']})"
        return head + "\n" + format_report(rep, rep["prd_percent"])
