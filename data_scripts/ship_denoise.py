"""Export, measure and ship the restoration model: models/mitdb-denoise.onnx, its card models/mitdb-denoise.md,
models/mitdb-denoise.eval.json and the README block results:denoise (DS2, noise from the second half of each
NSTDB record, beside the band-pass filter and wavelet shrinkage).

    ecgmtl train --config configs/mitdb-denoise.yaml --out runs/denoise
    python data_scripts/ship_denoise.py --run runs/denoise
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "mitdb-denoise"


def at_zero_db(rep: dict) -> str:
    """The issue's figures at 0 dB input: SNR improvement and PRD per noise, and the margin over the better
    baseline."""
    by = {(r["noise"], r["snr_db"], r["method"]): r for r in rep["rows"]}
    out = []
    for noise in ("bw", "ma", "mixed"):
        m, b, w = (by[(noise, 0.0, k)] for k in ("model", "band-pass", "wavelet"))
        best = max(b["out_snr_db"], w["out_snr_db"])
        out.append(
            f"- {noise} at 0 dB: SNR improvement {m['gain_db']:+.1f} dB, PRD {m['prd']:.1f}%; "
            f"{m['out_snr_db'] - best:+.1f} dB against the better baseline"
        )
    return "\n".join(out)


def _bounds(meta: dict) -> str:
    c = next(c for c in meta["constraints"] if c["output"] == "reconstruction" and c["kind"] == "hard")
    return f"[{c['lower']:.3f}, {c['upper']:.3f}]"


def card(meta: dict, rep: dict, table: str, seconds: float) -> str:
    v = meta.get("val", {})
    n = meta["train_noise"]
    return f"""# {NAME}

Restoration (denoising) model from ecgmtl {meta["code_version"]}: a 1-D U-Net encoder (widths
{meta["model"]["widths"]}, kernel {meta["model"]["kernel"]}) shared by a restoration head (the clean lead from a
corrupted one; residual: the head estimates the noise) and a segment head (does the segment hold an S beat, a
V beat; sigmoid). `ecgmtl denoise` runs it on every lead of any WFDB record.

## Input and output
One lead at {meta["fs"]:g} Hz in mV, band-passed {meta["preprocess"]["highpass_hz"]}-{meta["preprocess"]["lowpass_hz"]} Hz,
in segments of {meta["window"]} samples (any multiple of 16 works); `ecgmtl denoise` resamples each lead to
the model rate, restores overlapping segments (256 samples of context dropped at each side), and takes the
noise found, resampled back, out of the lead band-passed at its own rate. Outputs: `probabilities` (S, V) and
`reconstruction`, clamped inside the graph to the bounds {_bounds(meta)} mV (the clean training range with a
25% margin). The gate on the correction (see `ecgmtl/tasks/restore/engine.py`): d = {meta["gate"]["d"]:g}, chosen on
{meta["gate"].get("chosen_on", "-")}.

## Training
- MIT-BIH Arrhythmia Database DS1, both leads of every record, less the validation records
  {", ".join(meta["val_records"])} (held out whole; the checkpoint chosen by their mean SNR improvement on fixed
  corrupted segments: {v.get("snr_gain_db", float("nan")):.2f} dB at epoch {meta["epoch"]}). DS2 was not used for training or
  for choosing the checkpoint.
- Corruption: NSTDB {" and ".join(n["nstdb"])} from the **{n["half"]}** half (in time) of each noise record only, alone or
  both, on {100 * n["prob"]:.0f}% of the segments at {n["snr_db"][0]:g} to {n["snr_db"][1]:g} dB (power SNR against the clean
  segment); synthetic artefacts on {100 * n["artefact_prob"]:.0f}% (powerline hum, spikes, clipping, amplitude steps,
  baseline steps). Loss: the mean squared error against the clean band-passed lead over the batch (a log-MSE
  variant, v3 in studies/LOG.md, learnt the identity and was dropped); the segment head's binary cross-entropy
  at weight 0.01.
- `ecgmtl train --config configs/mitdb-denoise.yaml --out runs/denoise`; {platform.machine()} CPU.
- Data fingerprint {meta["data_fingerprint"]}; exported {meta["exported"]}.

## Results on DS2 (noise from the second half of each NSTDB record)
`python data_scripts/ship_denoise.py --run runs/denoise` ({seconds:.0f} s). {rep["protocol"]}

{table}

{at_zero_db(rep)}

## Limits
Not a medical device. Trained on two noise types of one database (and synthetic artefacts): other noise (electrode
motion, which NSTDB's `em` holds and this folder lacks) and other hardware are not measured here. The output is
band-limited to 0.5-40 Hz (the monitoring band), so pacemaker spikes and high-frequency detail are not kept.

## License and attribution
{meta["attribution"]}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "denoise")
    args = ap.parse_args()

    from ecgmtl.deploy.onnx import export_onnx
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.readme import update_readme
    from ecgmtl.tasks.restore.evaluate import evaluate_restoration, format_table

    out = ROOT / "models" / f"{NAME}.onnx"
    export_onnx(args.run, out, NAME)
    model = OnnxModel(out, device="cpu")
    t0 = time.time()
    rep = evaluate_restoration(model, "DS2")
    seconds = time.time() - t0
    table = format_table(rep)
    (ROOT / "models" / f"{NAME}.eval.json").write_text(json.dumps({**rep, "seconds": round(seconds, 1)}, indent=1))
    (ROOT / "models" / f"{NAME}.md").write_text(card(model.meta, rep, table, seconds))
    update_readme(
        ROOT / "README.md",
        "results:denoise",
        f"`python data_scripts/ship_denoise.py --run runs/denoise` ({seconds:.0f} s on 2 cores), "
        f"or `ecgmtl evaluate --model models/{NAME}.onnx`:\n\n{table}\n\n{at_zero_db(rep)}",
    )
    print(table)
    print(at_zero_db(rep))


if __name__ == "__main__":
    main()
