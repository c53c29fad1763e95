"""Export, measure and ship the rhythm model: models/cinc2017-rhythm.onnx, its card models/cinc2017-rhythm.md
and models/cinc2017-rhythm.eval.json. The shipped model is cross-validation fold 0's (trained on folds 1-4 of
the CinC 2017 recordings at hand, its checkpoint chosen on 10% of them): fold 0 stays a held-out test set that
anyone can score again (`ecgmtl evaluate --model models/cinc2017-rhythm.onnx --split test`).

    python data_scripts/rhythm_cv.py          # trains runs/rhythm-cv/multi-fold0 among the others
    python data_scripts/ship_rhythm.py --run runs/rhythm-cv/multi-fold0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "cinc2017-rhythm"


def card(meta: dict, rep: dict, mitdb: dict, cv: dict | None) -> str:
    from ecgmtl.tasks.rhythm.evaluate import format_report

    m = meta["model"]
    cv_line = (
        f"Over the 5 folds (one model each, seed 0): challenge F1 median {cv['challenge_f1']['median']:.3f} "
        f"[{cv['challenge_f1']['min']:.3f}, {cv['challenge_f1']['max']:.3f}], AF F1 {cv['f1_A']['median']:.3f} "
        f"[{cv['f1_A']['min']:.3f}, {cv['f1_A']['max']:.3f}] (README, `python data_scripts/rhythm_cv.py`)."
        if cv
        else ""
    )
    p = mitdb["pooled"]
    burdens = ", ".join(
        f"{k} {100 * r['ref_burden']:.0f}/{100 * r['found_burden']:.0f}" for k, r in mitdb["records"].items()
    )
    return f"""# {NAME}

Rhythm of a single-lead ECG: **N** (sinus rhythm), **A** (atrial fibrillation), **O** (another rhythm), **~**
(too noisy to classify), as the PhysioNet/CinC Challenge 2017 labels it. ecgmtl's rhythm task
(`ecgmtl/tasks/rhythm`), config `configs/cinc2017.yaml`.

- **Input**: any WFDB record, one lead (the first, or `--lead`), resampled to {meta["fs"]:g} Hz, band-passed
  0.5-40 Hz, scaled by its R amplitude; 30-s windows (a shorter recording zero-padded) and each window's 12
  rhythm features (RR irregularity, ectopy, implausible intervals; `ecgmtl/tasks/rhythm/features.py`).
- **Model**: {m["encoder"]} encoder (widths {m["widths"]}, kernel {m["kernel"]}) shared by the rhythm head and a
  reconstruction head trained to give the window back clean from a corrupted copy (NSTDB `ma`/`bw`, first half
  of each noise record, 6-24 dB, and synthetic artefacts). Softmax probabilities (>= 0, summing to 1 by
  construction) and the reconstruction bounded to the training range, in the graph.
- **Output**: a strip (up to 65 s) gets one label, the mean of its windows' probabilities (windows 15 s
  apart); a longer record gets the rhythm of each 30-s window, its AF episodes and AF burden.
- **Training data**: folds 1-4 of a stratified 5-fold split (seed 0) of the {
        len(meta["train_records"]) + len(meta["val_records"]) + len(meta["test_records"])
    } CinC 2017 recordings at hand; the checkpoint (epoch
  {meta["epoch"]}) chosen on {len(meta["val_records"])} of them (validation challenge F1
  {meta["val"]["challenge_f1"]:.3f}). Fold 0 ({len(meta["test_records"])} recordings) was never used for
  training or choices.

## Held-out fold 0 (`ecgmtl evaluate --model models/{NAME}.onnx --split test`)

```
{format_report(rep)}
```

{cv_line}

## Across databases: MIT-BIH's AF records (`python data_scripts/rhythm_mitdb.py`)

Reference `(AFIB` rhythm notes against the windows labelled A, lead MLII at 360 Hz (another device, another
rate, never seen in training). AF burden % reference/ecgmtl: {burdens}. Pooled: episode Se
{100 * p["episode_se"]:.1f}%, PPV {100 * p["episode_ppv"]:.1f}%; duration Se {100 * p["duration_se"]:.1f}%,
PPV {100 * p["duration_ppv"]:.1f}%.

## Limits

- 30-s windows: an AF episode is found to within a window; episodes shorter than about 15 s are missed.
- Atrial flutter is labelled A (203, 202, 222 hold flutter): the challenge's labels put flutter with AF or
  other rhythms inconsistently, and this model does not tell them apart.
- The published challenge figures (0.83 for the four winners) are on its hidden test set; ours are
  cross-validated on the public training recordings, so they are not directly comparable.

{meta["attribution"]}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs/rhythm-cv/multi-fold0")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "data_scripts"))
    from rhythm_mitdb import score_model

    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.deploy.onnx import export_onnx
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.tasks.rhythm.evaluate import evaluate_rhythm, format_report

    out = ROOT / "models" / f"{NAME}.onnx"
    export_onnx(args.run, out, NAME)
    model = OnnxModel(out, device="cpu")
    rep = evaluate_rhythm(model, "test", None)
    mitdb = score_model(out, database_dir(data_root(None), "mitdb"))
    summary = args.run.parent / "summary.json"
    cv = json.loads(summary.read_text())["multi"] if summary.is_file() else None
    (ROOT / "models" / f"{NAME}.eval.json").write_text(json.dumps({"fold0": rep, "mitdb_af": mitdb}, indent=1))
    (ROOT / "models" / f"{NAME}.md").write_text(card(model.meta, rep, mitdb, cv))
    print(format_report(rep))


if __name__ == "__main__":
    main()
