"""The rhythm task: N (sinus), A (atrial fibrillation), O (another rhythm) or ~ (too noisy) from one lead, as
the PhysioNet/CinC Challenge 2017 labels it, and the lead's reconstruction from a corrupted copy.

The model sees 30-s windows (task_options.window_s) of the lead at preprocess.fs, scaled by the recording's R
amplitude, and the window's rhythm features (features.py: RR irregularity, ectopy, implausible intervals). A
recording's probabilities are the mean over its windows (task_options.stride_s apart, the last flush with the
end, a short recording zero-padded). Training cuts each recording into windows a little longer (shift_s) than
the model's, and each epoch takes one of them per recording at a random offset; the reconstruction head gets
the window with NSTDB noise (first half of each noise record) or a synthetic artefact on some of them
(data.noise_prob, data.noise_snr_db, data.artefact_prob) and gives it back clean.

Honest evaluation: stratified folds of the recordings (task_options.folds, fold_seed). test_fold holds one out
of training altogether (cross-validation; null: train on every fold, the shipped model); the checkpoint is
chosen on a stratified val_share of the training recordings, never on the held-out fold.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ecgmtl import __version__
from ecgmtl.data.cinc2017 import CLASSES
from ecgmtl.errors import ConfigError
from ecgmtl.tasks.base import TASKS, PredictOptions, Task, TrainData

if TYPE_CHECKING:
    from ecgmtl.config import Config
    from ecgmtl.train.distributed import Context

NAME = "rhythm"
OPTIONS = {
    "folder": "cinc2017",  # under the data folder (or the data folder itself)
    "reference": "REFERENCE.csv",
    "folds": 5,
    "fold_seed": 0,
    "test_fold": None,
    "val_share": 0.1,
    "window_s": 30.0,
    "stride_s": 15.0,
    "shift_s": 1.0,
}
VAL_SEED = 4321  # the validation corruption is drawn once


def options(cfg: Config) -> dict:
    """task_options over OPTIONS; an unknown key or a value out of range is a ConfigError."""
    unknown = set(cfg.task_options) - set(OPTIONS)
    if unknown:
        raise ConfigError(f"task_options: unknown for the rhythm task: {', '.join(sorted(unknown))}")
    o = {**OPTIONS, **cfg.task_options}
    checks = [
        ("folds", 2 <= int(o["folds"]) <= 20),
        ("test_fold", o["test_fold"] is None or 0 <= int(o["test_fold"]) < int(o["folds"])),
        ("val_share", 0.0 < float(o["val_share"]) < 0.5),
        ("window_s", 5.0 <= float(o["window_s"]) <= 120.0),
        ("stride_s", 0.0 < float(o["stride_s"]) <= float(o["window_s"])),
        ("shift_s", 0.0 <= float(o["shift_s"]) <= float(o["window_s"])),
    ]
    for key, ok in checks:
        if not ok:
            raise ConfigError(f"task_options.{key} is out of range ({o[key]})")
    return o


def geometry(cfg: Config, o: dict) -> tuple[int, int, int]:
    """(window, stride, shift) in samples at the model rate."""
    fs = cfg.preprocess.fs
    return int(round(o["window_s"] * fs)), int(round(o["stride_s"] * fs)), int(round(o["shift_s"] * fs))


@TASKS.register(NAME, aliases=("cinc2017", "af"))
class RhythmTask(Task):
    name = NAME
    classes = CLASSES
    multilabel = False
    description = "rhythm (N, AF, other, noisy; CinC 2017)"
    score_key = "challenge_f1"
    val_keys = ("challenge_f1", "f1", "accuracy", "prd", "constraints")
    default_model = "cinc2017-rhythm.onnx"
    model_env = "ECGMTL_MODEL_RHYTHM"
    priority = 5  # a short single-lead strip (accepts): before the beat model
    companion_of = ("beats",)  # a long record's rhythm and AF episodes beside its beats

    def check(self, cfg: Config) -> None:
        from ecgmtl.mtl.constraints import check_constraints

        check_constraints(cfg.constraints, CLASSES, multilabel=False)
        options(cfg)
        if cfg.preprocess.lowpass_hz >= 0.5 * cfg.preprocess.fs:
            raise ConfigError("preprocess.lowpass_hz must be under half of preprocess.fs")
        for key in ("noise_prob", "artefact_prob"):
            if not 0.0 <= getattr(cfg.data, key) <= 1.0:
                raise ConfigError(f"data.{key} must be in [0, 1]")

    # -- training -----------------------------------------------------------------------------------------
    def setup(self, cfg: Config, ctx: Context) -> TrainData:
        import torch

        from ecgmtl.augment.corruption import Corruption, corrupt
        from ecgmtl.augment.noise import NoiseBank
        from ecgmtl.data.cinc2017 import stratified_folds
        from ecgmtl.data.paths import cache_dir, data_root, database_dir
        from ecgmtl.mtl.constraints import resolve
        from ecgmtl.tasks.rhythm.data import load_recordings, windows_of
        from ecgmtl.tasks.rhythm.features import NAMES

        o = options(cfg)
        root = data_root(cfg.data.data_dir)
        folder = root / o["folder"] if (root / o["folder"] / o["reference"]).is_file() else root
        rec = load_recordings(folder, cfg.preprocess, cache_dir(cfg.data.cache_dir), o["reference"])
        fold = stratified_folds(rec.labels, int(o["folds"]), int(o["fold_seed"]))
        held = fold == int(o["test_fold"]) if o["test_fold"] is not None else np.zeros(len(rec), bool)
        pool = np.flatnonzero(~held)
        val = _stratified_share(pool, rec.labels[pool], float(o["val_share"]), int(o["fold_seed"]))
        train = np.setdiff1d(pool, val)
        window, stride, shift = geometry(cfg, o)
        fs = cfg.preprocess.fs
        x, feats, owner = windows_of(rec, train, window + shift, stride, fs)
        self.pieces = [np.flatnonzero(owner == k) for k in range(len(train))]
        self.record_labels = rec.labels[train]
        rr_mean = feats.mean(axis=0).astype(np.float64)
        rr_std = feats.std(axis=0).astype(np.float64) + 1e-6
        z = ((feats - rr_mean) / rr_std).astype(np.float32)
        vx, vf, self.val_owner = windows_of(rec, val, window, stride, fs)
        self.val_labels = rec.labels[val]
        self.val_rr = torch.from_numpy(((vf - rr_mean) / rr_std).astype(np.float32))
        self.val_target = torch.from_numpy(vx)
        self.bank = NoiseBank(database_dir(root, "nstdb"), cfg.preprocess)
        self.corruption = Corruption(cfg.data.noise_prob, tuple(cfg.data.noise_snr_db), cfg.data.artefact_prob)
        self.fs = fs
        self.gen = torch.Generator().manual_seed(cfg.train.seed * 1013)  # the same on every rank (see corrupt)
        self.val_input = corrupt(
            self.val_target, self.bank, self.corruption, fs, torch.Generator().manual_seed(VAL_SEED)
        )
        hi = float(np.abs(x).max()) * 1.25
        meta = {
            "task": NAME,
            "classes": list(CLASSES),
            "multilabel": False,
            "in_leads": 1,
            "fs": fs,
            "window": window,
            "stride": stride,
            "rr_features": list(NAMES),
            "rr_mean": rr_mean.tolist(),
            "rr_std": rr_std.tolist(),
            "recon_bounds": [-hi, hi],
            "constraints": resolve(cfg.constraints, CLASSES, (-hi, hi)),
            "train_records": [rec.names[i] for i in train],
            "val_records": [rec.names[i] for i in val],
            "test_records": [rec.names[i] for i in np.flatnonzero(held)],
            "folds": {"k": int(o["folds"]), "seed": int(o["fold_seed"]), "test_fold": o["test_fold"]},
            "train_noise": {"nstdb": list(self.bank.kinds), "half": "first", "prob": cfg.data.noise_prob},
            "data_fingerprint": rec.fingerprint,
            "code_version": __version__,
        }
        return TrainData(x, z, rec.labels[train][owner], window, shift, meta)

    def epoch_indices(self, labels, rng, cfg, shuffle=True):
        """One window of each training recording, drawn anew every epoch."""
        idx = np.array([p[rng.integers(len(p))] for p in self.pieces], dtype=np.int64)
        return rng.permutation(idx) if shuffle else idx

    def class_weights(self, labels, cfg):
        from ecgmtl.train.balance import class_weights

        return class_weights(self.record_labels, len(CLASSES), cfg.train.class_weight_power)

    def classification_loss(self, logits, y, weight, reduction="mean"):
        import torch.nn.functional as F

        return F.cross_entropy(logits, y, weight=weight, reduction=reduction)

    def loss_denominator(self, y, weight):
        import torch

        return weight[y].sum() if weight is not None else torch.tensor(float(y.numel()), device=y.device)

    def probabilities(self, logits):
        return logits.softmax(dim=-1)

    def model_input(self, x, cfg, ctx):
        from ecgmtl.augment.corruption import corrupt

        return corrupt(x, self.bank, self.corruption, self.fs, self.gen, (ctx.rank, ctx.world))

    def generators(self):
        return {"corruption": self.gen}

    def validate(self, model, projection, device, dtype, meta: dict) -> dict:
        """The validation recordings as the exported graph and prediction compute them: the softmax of each
        window through the hard constraints, averaged over the recording's windows; the challenge's F1."""
        from ecgmtl.tasks.rhythm.scoring import validation_report

        p, _ = window_outputs(model, projection, self.val_target, self.val_rr, device, dtype)
        _, r = window_outputs(model, projection, self.val_input, self.val_rr, device, dtype)  # denoised
        return validation_report(p, r, self.val_owner, self.val_labels, self.val_target.numpy(), meta)

    def val_line(self, val: dict) -> str:
        f = val["f1"]
        return f"val F1={val['challenge_f1']:.4f} (N {f['N']:.3f} A {f['A']:.3f} O {f['O']:.3f}) PRD={val['prd']:.1f}%"

    # -- export -------------------------------------------------------------------------------------------
    def deployable(self, model, meta, graph=False):
        from ecgmtl.deploy.graph import Deployable

        return Deployable(model, meta).eval()

    def example_inputs(self, meta):
        from ecgmtl.deploy.graph import example_inputs

        return example_inputs(meta)

    def metadata(self, ck):
        from ecgmtl.tasks.rhythm.export import metadata

        return metadata(ck)

    def attribution(self) -> str:
        from ecgmtl.tasks.rhythm.export import ATTRIBUTION

        return ATTRIBUTION

    # -- prediction and evaluation ------------------------------------------------------------------------
    def accepts(self, record: str | os.PathLike) -> bool:
        from ecgmtl.tasks.rhythm.predict import is_strip

        return is_strip(record)

    def predict(self, model, path, opts: PredictOptions) -> dict:
        from ecgmtl.tasks.rhythm.predict import predict_rhythm

        return predict_rhythm(model, path, opts)

    def format_prediction(self, result: dict) -> str:
        from ecgmtl.tasks.rhythm.predict import format_rhythm

        return format_rhythm(result)

    def summary_csv(self, rows: list[dict], classes: list[str]) -> str:
        from ecgmtl.tasks.rhythm.predict import rhythm_summary_csv

        return rhythm_summary_csv(rows, classes)

    def evaluate(self, model, split, data_dir, boot=1000) -> dict:
        from ecgmtl.tasks.rhythm.evaluate import evaluate_rhythm

        return evaluate_rhythm(model, split, data_dir)

    def format_evaluation(self, rep: dict) -> str:
        from ecgmtl.tasks.rhythm.evaluate import format_report

        return format_report(rep)


def window_outputs(model, projection, x, rr, device, dtype, batch: int = 256):
    """Softmax probabilities and reconstructions of windows x (windows, 1, samples) with features rr, through
    the hard constraints, as numpy arrays."""
    import torch

    probs, recon = [], []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out = model(x[s : s + batch].to(device, dtype), rr[s : s + batch].to(device, dtype))
            p, r = projection(torch.softmax(out["logits"].float(), dim=-1), out["reconstruction"].float())
            probs.append(p.cpu())
            recon.append(r.cpu())
    return torch.cat(probs).numpy(), torch.cat(recon).numpy()


def _stratified_share(items: np.ndarray, labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A stratified `share` of items (sorted)."""
    from sklearn.model_selection import StratifiedShuffleSplit

    split = StratifiedShuffleSplit(1, test_size=share, random_state=seed)
    _, pick = next(split.split(items, labels))
    return np.sort(items[pick])
