"""The restoration grid on DS2 (noise from the second half of each NSTDB record): the model beside the
band-pass filter and wavelet shrinkage, per noise type (bw, ma, mixed) and input SNR (24 ... -6 dB). Writes
models/mitdb-denoise.eval.json and, with --readme, the README block results:denoise.

    python data_scripts/denoise_grid.py --readme          # the shipped model, all 22 DS2 records (~6 min)
    python data_scripts/denoise_grid.py --model runs/denoise/model.onnx --records 100,103
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "mitdb-denoise.onnx")
    ap.add_argument("--records", default=None, help="comma-separated (default: all of DS2)")
    ap.add_argument("--split", default="DS2", help="DS2 (second half of the noise) or DS1 (first half)")
    ap.add_argument("--json", type=Path, default=None, help="default: models/mitdb-denoise.eval.json (shipped model)")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md (results:denoise)")
    args = ap.parse_args()

    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.readme import update_readme
    from ecgmtl.tasks.restore.evaluate import evaluate_restoration, format_table

    model = OnnxModel(args.model, device="cpu")
    t0 = time.time()
    recs = args.records.split(",") if args.records else None
    rep = evaluate_restoration(model, args.split, None, recs)
    rep["seconds"] = round(time.time() - t0, 1)
    table = format_table(rep)
    print(table)
    out = args.json or (ROOT / "models" / "mitdb-denoise.eval.json" if args.model.parent == ROOT / "models" else None)
    if out is not None:
        out.write_text(json.dumps(rep, indent=1))
        print(f"wrote {out}")
    if args.readme:
        cmd = "python data_scripts/denoise_grid.py --readme"
        update_readme(ROOT / "README.md", "results:denoise", f"`{cmd}` ({rep['seconds']:.0f} s):\n\n{table}")
        print("README.md updated")


if __name__ == "__main__":
    main()
