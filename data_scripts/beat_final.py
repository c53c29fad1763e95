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


def s_by_record(models: dict[int, Path]) -> str:
    """Where S is found and where it is called falsely, record by record, at the annotated R peaks (the
    cached DS2 windows: fast), for each seed; and S sensitivity with and without record 232."""
    from ecgmtl.config import load_config
    from ecgmtl.data.mitdb import CLASSES, DS2, load_beats
    from ecgmtl.data.paths import cache_dir, data_root, database_dir
    from ecgmtl.deploy.runtime import OnnxModel

    pcfg = load_config(ROOT / "configs" / "mitdb.yaml").preprocess
    db, cache, s = database_dir(data_root(), "mitdb"), cache_dir(None), CLASSES.index("S")
    table: dict[str, list[tuple[int, int, int]]] = {}
    for path in models.values():
        model = OnnxModel(path, device="cpu")
        for r in DS2:
            ds = load_beats(db, [r], pcfg, cache)
            pred = model.run(ds.windows, ds.rr)[0].argmax(1)
            y = ds.labels == s
            table.setdefault(r, []).append((int(y.sum()), int((y & (pred == s)).sum()), int((~y & (pred == s)).sum())))
    rows = [
        f"| record | S beats | S found, seeds {', '.join(map(str, models))} | false S, same seeds |",
        "|---|---:|---|---|",
    ]
    for r, v in table.items():
        if v[0][0] or max(x[2] for x in v) >= 10:
            rows.append(
                f"| {r} | {v[0][0]} | {' / '.join(str(x[1]) for x in v)} | {' / '.join(str(x[2]) for x in v)} |"
            )
    for label, recs in (("all DS2", list(table)), ("DS2 without 232", [r for r in table if r != "232"])):
        se = [
            100 * sum(table[r][k][1] for r in recs) / max(sum(table[r][k][0] for r in recs), 1)
            for k in range(len(models))
        ]
        rows.append(f"\nS Se on {label}: median {np.median(se):.1f}% [{min(se):.1f}, {max(se):.1f}]")
    return "\n".join(rows)


def report(results: dict[int, dict]) -> str:
    """Markdown: one row per seed (clean DS2), the median [min, max] row, and the noise table (median over
    seeds, the range of correct and wrong after it)."""
    rows = [
        "| seed | accuracy | S Se / PPV % | V Se / PPV % | N called F | unclassified (of V) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s, r in results.items():
        f = r["clean"]
        rows.append(
            f"| {s} | {f['accuracy']:.3f} | {100 * f['S_se']:.1f} / {100 * f['S_ppv']:.1f} | "
            f"{100 * f['V_se']:.1f} / {100 * f['V_ppv']:.1f} | {100 * f['N_as_F']:.2f}% | "
            f"{100 * f['unclassified']:.2f}% ({100 * f['V_unclassified']:.2f}%) |"
        )

    def med(key: str, scale: float = 100.0, digits: int = 1) -> str:
        v = np.asarray([r["clean"][key] for r in results.values()], dtype=float) * scale
        return f"{np.median(v):.{digits}f} [{v.min():.{digits}f}, {v.max():.{digits}f}]"

    rows.append(
        f"| **median [min, max]** | {med('accuracy', 1, 3)} | {med('S_se')} / {med('S_ppv')} | "
        f"{med('V_se')} / {med('V_ppv')} | {med('N_as_F', 100, 2)}% | {med('unclassified', 100, 2)}% "
        f"({med('V_unclassified', 100, 2)}%) |"
    )
    rows += [
        "",
        "| noise, SNR | correct % | wrong % | unclassified % | missed % |",
        "|---|---:|---:|---:|---:|",
    ]
    for cond in next(iter(results.values()))["noise"]:
        cell = []
        for o in noise_stress.OUTCOMES:
            v = 100 * np.asarray([r["noise"][cond][o] for r in results.values()], dtype=float)
            cell.append(f"{np.median(v):.1f} [{v.min():.1f}, {v.max():.1f}]")
        rows.append(f"| {cond.replace('@', ' ')} dB | " + " | ".join(cell) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "final")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--per-record", action="store_true", help="S found and false S per DS2 record (annotated peaks)")
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
    print(report(results))
    if args.per_record:
        print("\n" + s_by_record({k: args.out / f"seed{k}" / "model.onnx" for k in results}))


if __name__ == "__main__":
    main()
