"""The rhythm model's exported graph is the beat model's form (ecgmtl.tasks.beats.export.Deployable): 30-s
windows and their raw rhythm features in, softmax probabilities (>= 0, summing to 1 by construction) and the
reconstruction, projected into the training amplitude range, out. This module says what prediction needs."""

from __future__ import annotations

ATTRIBUTION = (
    "Trained on the PhysioNet/Computing in Cardiology Challenge 2017 (Clifford et al., 'AF Classification from "
    "a Short Single Lead ECG Recording', CinC 44, 2017; ODC-By 1.0) from PhysioNet (Goldberger et al. 2000)."
)


def metadata(ck: dict) -> dict:
    cfg, meta = ck["config"], ck["meta"]
    return {
        "inputs": {"x": ["batch", 1, meta["window"]], "rr": ["batch", len(meta["rr_features"])]},
        "preprocess": cfg["preprocess"],
        "fs": meta["fs"],
        "window": meta["window"],
        "stride": meta["stride"],
        "rr_features": meta["rr_features"],
        "rr_mean": meta["rr_mean"],
        "rr_std": meta["rr_std"],
        "probabilities": "softmax",
        "calibration": {"temperature": 1.0, "fitted": False},
        "train_records": meta["train_records"],
        "val_records": meta["val_records"],
        "test_records": meta["test_records"],
        "folds": meta["folds"],
        "val": meta["val"],
    }
