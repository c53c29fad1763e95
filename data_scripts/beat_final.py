"""The frozen beat recipe over seeds, measured on DS2 as a user sees it: each seed trained on DS1
(`configs/mitdb.yaml`), exported, then run on the 22 DS2 records written without their annotations (beats
detected, quality gate on, 150 ms matching; data_scripts/beat_cv.py's figures) and under NSTDB noise from the
**second** half of each noise record (data_scripts/noise_stress.py). Prints one row per seed and the median
[min, max] over seeds; writes runs/final/final.json. Every call evaluates DS2: keep count in studies/LOG.md.

    python data_scripts/beat_final.py --seeds 0,1,2,3,4 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import beat_cv  # noqa: E402
import noise_stress  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("accuracy", "S_se", "S_ppv", "V_se", "V_ppv", "N_as_F", "unclassified", "V_unclassified")


def train_seed(seed: int, out: Path, sets: list[str]) -> Path:
    run, model = out / f"seed{seed}", out / f"seed{seed}" / "model.onnx"
    if model.is_file():
        return model
    run.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ecgmtl", "train", "--config", str(ROOT / "configs" / "mitdb.yaml")]
    cmd += ["--out", str(run), "--seed", str(seed), "--no-progress"] + [a for s in sets for a in ("--set", s)]
    with open(out / f"seed{seed}.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        subprocess.run(
            [sys.executable, "-m", "ecgmtl", "export", str(run), "--out", str(model)],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    return model


def measure(model_path: Path) -> dict:
    from ecgmtl.data.mitdb import DS2
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.deploy.runtime import OnnxModel

    db = database_dir(data_root(), "mitdb")
    clean = beat_cv.figures(beat_cv.score(model_path, db, list(DS2)))
    noisy = noise_stress.run(OnnxModel(model_path, device="cpu"), list(DS2), ["ma", "bw"], [12.0, 6.0, 0.0], "second")
    return {"clean": clean, "noise": noisy["shares"], "noise_clean_records": noisy["clean"]}


def spread(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "final")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    def one(seed: int) -> None:
        done = args.out / f"seed{seed}" / "ds2.json"
        if not done.is_file():
            done.write_text(json.dumps(measure(train_seed(seed, args.out, args.set)), indent=1))

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, seeds))
    # every seed measured so far (another invocation may have done some)
    found = sorted(args.out.glob("seed*/ds2.json"), key=lambda p: int(p.parent.name[4:]))
    results = {int(p.parent.name[4:]): json.loads(p.read_text()) for p in found}
    (args.out / "final.json").write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    print("| seed | accuracy | S Se / PPV | V Se / PPV | N called F | unclassified (of V) |")
    print("|---|---:|---:|---:|---:|---:|")
    for s, r in results.items():
        f = r["clean"]
        print(
            f"| {s} | {f['accuracy']:.3f} | {100 * f['S_se']:.1f} / {100 * f['S_ppv']:.1f} | "
            f"{100 * f['V_se']:.1f} / {100 * f['V_ppv']:.1f} | {100 * f['N_as_F']:.2f}% | "
            f"{100 * f['unclassified']:.2f}% ({100 * f['V_unclassified']:.2f}%) |"
        )
    print("\nmedian [min, max] over seeds:")
    for k in KEYS:
        print(f"  {k}: {spread([r['clean'][k] for r in results.values()])}")
    print("\nnoise (beats of the noisy minutes: correct / wrong / unclassified / missed), median over seeds:")
    for cond in next(iter(results.values()))["noise"]:
        med = {o: np.median([r["noise"][cond][o] for r in results.values()]) for o in noise_stress.OUTCOMES}
        rng = {
            o: (min(r["noise"][cond][o] for r in results.values()), max(r["noise"][cond][o] for r in results.values()))
            for o in ("correct", "wrong")
        }
        print(
            f"  {cond}: "
            + " / ".join(f"{100 * med[o]:.1f}" for o in noise_stress.OUTCOMES)
            + f"  (correct {100 * rng['correct'][0]:.1f}-{100 * rng['correct'][1]:.1f}, wrong {100 * rng['wrong'][0]:.1f}-{100 * rng['wrong'][1]:.1f})"
        )


if __name__ == "__main__":
    main()
