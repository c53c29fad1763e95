"""`ecgmtl evaluate` on a rhythm model: a CinC 2017-style folder (REFERENCE.csv and the recordings) scored as
the challenge scores it, each recording predicted as `ecgmtl predict` predicts a strip (numpy and onnxruntime).

--split: `unseen` (the default) scores the recordings the model was neither trained nor validated on (all of
them in a folder the model has never seen; the held-out fold in the folder it was trained from); `test` the
model's held-out fold; `all` every labelled recording (said to include training ones, where it does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgmtl.data.cinc2017 import CLASSES
from ecgmtl.errors import ConfigError, RecordError

SPLITS = ("unseen", "test", "all")


def cinc_folder(data_dir: str | None) -> Path:
    """--data-dir itself when it holds REFERENCE.csv, else its cinc2017/ (default: the data folder's)."""
    from ecgmtl.data.paths import data_root

    root = data_root(data_dir)
    return root if (root / "REFERENCE.csv").is_file() or not (root / "cinc2017").is_dir() else root / "cinc2017"


def evaluate_rhythm(model, split: str | None, data_dir: str | None) -> dict:
    from ecgmtl.data.cinc2017 import index, read_signal
    from ecgmtl.tasks.rhythm.predict import strip_probabilities
    from ecgmtl.tasks.rhythm.scoring import rhythm_report

    split = split or "unseen"
    if split not in SPLITS:
        raise ConfigError(f"--split {split}: a rhythm model is evaluated on {', '.join(SPLITS)}")
    folder = cinc_folder(data_dir)
    idx = index(folder)
    meta = model.meta
    seen = set(meta.get("train_records", [])) | set(meta.get("val_records", []))
    if split == "test":
        keep = set(meta.get("test_records", []))
        if not keep:
            raise RecordError(f"{model.name} holds no fold out (trained on every fold): use --split unseen or all")
    elif split == "unseen":
        keep = set(idx.names) - seen
    else:
        keep = set(idx.names)
    pick = [i for i, n in enumerate(idx.names) if n in keep]
    if not pick:
        raise RecordError(f"no recording of {folder} to score with --split {split} (every one was used in training?)")
    probs = np.stack([strip_probabilities(model, *read_signal(idx.headers[i])) for i in pick])
    labels = idx.labels[pick]
    rep = rhythm_report(labels, probs)
    rep.update(
        {
            "model": model.name,
            "folder": str(folder),
            "split": split,
            "missing_files": idx.missing,
            "also_in_training": int(sum(idx.names[i] in seen for i in pick)),
            "class_counts": {c: int(np.sum(labels == k)) for k, c in enumerate(CLASSES)},
        }
    )
    return rep


def format_report(rep: dict) -> str:
    lines = [
        f"{rep['model']} on {rep['folder']} ({rep['split']}: {rep['records']} recordings)",
        f"challenge F1 (mean of N, A, O): {rep['challenge_f1']:.4f}   accuracy {rep['accuracy']:.4f}",
        f"{'class':<6}{'F1':>8}{'records':>9}",
    ]
    for c in CLASSES:
        lines.append(f"{c:<6}{rep['f1'][c]:>8.3f}{rep['class_counts'][c]:>9d}")
    lines.append("confusion (rows: reference " + " ".join(CLASSES) + "):")
    lines += ["  " + " ".join(f"{v:>6d}" for v in row) for row in rep["confusion"]]
    if rep["also_in_training"]:
        lines.append(f"note: {rep['also_in_training']} of these recordings were used in training")
    return "\n".join(lines)
