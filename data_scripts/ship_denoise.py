"""Export, measure and ship the restoration model: models/mitdb-denoise.onnx, its card models/mitdb-denoise.md,
models/mitdb-denoise.eval.json and the README block results:denoise (DS2, noise from the second half of each
NSTDB record, beside the band-pass filter and wavelet shrinkage).

    ecgmtl train --config configs/mitdb-denoise.yaml --out runs/denoise
    python data_scripts/ship_denoise.py --run runs/denoise

`--regate` ships the model already in models/ again with its gate chosen anew on the DS1 validation records
(export.choose_gate, for a model exported before the gate's candidates changed): no run is needed.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _gate(g: dict) -> str:
    p, w = float(g.get("power", 1.0)), float(g.get("window_s", 2.0))
    if not g["d"]:
        return "d = 0 (none: the whole correction everywhere)"
    how = "a Wiener-like gain" if p == 1.0 else f"a switch at local SNR {1 / g['d']:.3g}"
    return f"alpha = 1 / (1 + (d snr)^p) with d = {g['d']:g}, p = {p:g}, over {w:g}-s windows ({how})"


def card(meta: dict, rep: dict, table: str, seconds: float, cmd: str) -> str:
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
25% margin). The gate on the correction (see `ecgmtl/tasks/restore/engine.py`): {_gate(meta["gate"])}, chosen on
{meta["gate"].get("chosen_on", "-")}, among {len(meta["gate"].get("candidates", {}))} candidates.

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
`{cmd}` ({seconds:.0f} s). {rep["protocol"]}

{table}

{at_zero_db(rep)}

## Limits
Not a medical device. Trained on two noise types of one database (and synthetic artefacts): other noise (electrode
motion, which NSTDB's `em` holds and this folder lacks) and other hardware are not measured here. The output is
band-limited to 0.5-40 Hz (the monitoring band), so pacemaker spikes and high-frequency detail are not kept.

## License and attribution
{meta["attribution"]}
"""


def regate(path: Path) -> None:
    """The exported model's gate chosen again on its DS1 validation records, written into its metadata."""
    import onnx

    from ecgmtl.deploy.runtime import META_KEY, OnnxModel
    from ecgmtl.tasks.restore.export import choose_gate

    model = OnnxModel(path, device="cpu")
    gate = choose_gate(model, model.meta["val_records"], None)
    proto = onnx.load(path)
    entry = next(e for e in proto.metadata_props if e.key == META_KEY)
    entry.value = json.dumps({**json.loads(entry.value), "gate": gate})
    tmp = path.with_name(path.name + ".part")
    onnx.save(proto, tmp)
    tmp.replace(path)
    print("gate:", {k: v for k, v in gate.items() if k != "candidates"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "denoise")
    ap.add_argument("--regate", action="store_true", help="keep models/'s network, choose its gate again on DS1")
    args = ap.parse_args()

    from ecgmtl.deploy.onnx import export_onnx
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.readme import update_readme
    from ecgmtl.tasks.restore.evaluate import evaluate_restoration, format_table

    t0 = time.time()  # the whole command: export or gate choice, then the DS2 grid
    out = ROOT / "models" / f"{NAME}.onnx"
    if args.regate:
        regate(out)
    else:
        export_onnx(args.run, out, NAME)
    model = OnnxModel(out, device="cpu")
    cmd = "python data_scripts/ship_denoise.py " + (
        "--regate" if args.regate else f"--run {os.path.relpath(args.run, ROOT)}"
    )
    rep = evaluate_restoration(model, "DS2")
    seconds = time.time() - t0
    table = format_table(rep)
    (ROOT / "models" / f"{NAME}.eval.json").write_text(json.dumps({**rep, "seconds": round(seconds, 1)}, indent=1))
    (ROOT / "models" / f"{NAME}.md").write_text(card(model.meta, rep, table, seconds, cmd))
    update_readme(
        ROOT / "README.md",
        "results:denoise",
        f"`{cmd}` ({seconds:.0f} s on 2 cores), "
        f"or `ecgmtl evaluate --model models/{NAME}.onnx`:\n\n{table}\n\n{at_zero_db(rep)}",
    )
    print(table)
    print(at_zero_db(rep))


if __name__ == "__main__":
    main()
