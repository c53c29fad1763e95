"""Whole-record cross-validation inside MIT-BIH DS1: the only place a beat recipe is chosen (never DS2).

The 22 DS1 records are split into 4 folds balanced for S and V beats (greedy, deterministic). For each fold a
model is trained on the other folds' records (checkpoint chosen on validation records taken from those
folds), exported, and run on the held-out fold's records as a user runs `ecgmtl predict` (beats detected,
quality gate on); every DS1 record is thus predicted once by a model that never saw it. The pooled figures
are matched to the annotated beats within 150 ms: accuracy over the found beats (unclassified counted wrong),
S and V sensitivity and PPV, the share of N beats called F, and the share of beats unclassified.

    python data_scripts/beat_cv.py --name base                     # the recipe of configs/mitdb.yaml
    python data_scripts/beat_cv.py --name noise --set data.noise_prob=0.5 --jobs 2
    python data_scripts/beat_cv.py --name base --folds 0,1          # part of the folds (resumable: done folds are kept)
    python data_scripts/beat_cv.py --name ens3 --members kept-seed0,kept-seed1,kept-seed2   # no training: the
        # fold models of earlier CV runs exported as one averaging model per fold (ecgmtl export RUN RUN ...)
    python data_scripts/beat_cv.py --name s1-last --members kept-seed1 --checkpoint last   # their last epoch
    python data_scripts/beat_cv.py --summary kept-seed0,kept-seed1,kept-seed2   # median [min-max] over runs
    python data_scripts/beat_cv.py --name twolead-seed0 --one-lead   # no training: its fold models on copies of
        # the held-out records that hold MLII alone (a model trained with preprocess.other_lead, on one lead)

Results go to runs/cv/<name>/ (one folder per fold, cv.json); one markdown row is printed for studies/LOG.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_FOLDS = 4


def folds(counts: dict[str, dict[str, int]], k: int = N_FOLDS, tries: int = 20000) -> list[list[str]]:
    """Records into k folds of 5-6 records with S and V beats spread evenly: the best of `tries` random
    assignments (fixed seed) by the largest deviation of a fold's S, V or beat share from 1/k."""
    names = sorted(counts)
    m = np.array([[counts[r]["S"], counts[r]["V"], sum(counts[r].values())] for r in names], dtype=float)
    m /= m.sum(axis=0)
    rng = np.random.default_rng(0)
    base = np.arange(len(names)) % k
    best, best_cost = base, np.inf
    for _ in range(tries):
        a = rng.permutation(base)
        share = np.stack([m[a == f].sum(axis=0) for f in range(k)])
        cost = np.abs(share - 1 / k).max()
        if cost < best_cost:
            best, best_cost = a, cost
    return [[n for n, f in zip(names, best) if f == i] for i in range(k)]


def validation_records(train: list[str], counts: dict) -> list[str]:
    """The config's validation records that are in training; with fewer than 3, the S- and V-richest added."""
    from ecgmtl.config import DEFAULT_VAL

    val = [r for r in DEFAULT_VAL if r in train]
    for r in sorted(train, key=lambda r: -(counts[r]["S"] + counts[r]["V"])):
        if len(val) >= 3:
            break
        if r not in val:
            val.append(r)
    return val


def run_fold(name: str, k: int, test: list[str], train: list[str], val: list[str], sets: list[str], seed: int) -> Path:
    out = ROOT / "runs" / "cv" / name / f"fold{k}"
    model = out / "model.onnx"
    if model.is_file():
        return model
    cmd = [
        sys.executable,
        "-m",
        "ecgmtl",
        "train",
        "--config",
        str(ROOT / "configs" / "mitdb.yaml"),
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--no-progress",
        "--set",
        f"data.train=[{','.join(train)}]",
        "--set",
        f"data.val=[{','.join(val)}]",
    ]
    for s in sets:
        cmd += ["--set", s]
    log = out.parent / f"fold{k}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        subprocess.run(
            [sys.executable, "-m", "ecgmtl", "export", str(out), "--out", str(model)],
            check=True,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    return model


def export_fold(name: str, k: int, members: list[str], checkpoint: str) -> Path:
    """The fold's model of each earlier CV run in `members` (its best or last checkpoint), exported as one
    model (an ensemble when there are several), as `ecgmtl export` does."""
    out = ROOT / "runs" / "cv" / name / f"fold{k}"
    model = out / "model.onnx"
    if model.is_file():
        return model
    out.mkdir(parents=True, exist_ok=True)
    runs = [str(ROOT / "runs" / "cv" / m / f"fold{k}" / f"{checkpoint}.pt") for m in members]
    with open(out.parent / f"fold{k}.log", "w") as fh:
        subprocess.run(
            [sys.executable, "-m", "ecgmtl", "export", *runs, "--out", str(model)],
            check=True,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    return model


def score(model_path: Path, db: Path, records: list[str], signals: Path | None = None) -> dict:
    """Pooled outcome counts of one model on its held-out records (detected beats, gate on); signals: a
    folder holding other copies of the records to predict, at any rate (the annotations stay those of db)."""
    import wfdb

    from ecgmtl.data.mitdb import AAMI
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.metrics import match_beats
    from ecgmtl.tasks.beats.engine import run_beats

    model = OnnxModel(model_path, device="cpu")
    conf = {}  # (ref, predicted or 'unclassified' or 'missed') -> count
    for r in records:
        ann = wfdb.rdann(str(db / r), "atr")
        keep = np.array([s in AAMI and AAMI[s] != "Q" for s in ann.symbol])
        ref, ref_c = ann.sample[keep], [AAMI[s] for s in np.asarray(ann.symbol)[keep]]
        run = run_beats(model, (signals or db) / r)
        labels = run.table.labels(run.classes)
        fs = wfdb.rdheader(str(db / r)).fs  # a copy at another rate: its beats back on the annotations' clock
        found = np.round(run.table.samples * (fs / run.source.fs)).astype(np.int64)
        j, ok = match_beats(ref, found, int(0.15 * fs))
        for i, c in enumerate(ref_c):
            got = labels[j[i]] if ok[i] else "missed"
            conf[f"{c}>{got}"] = conf.get(f"{c}>{got}", 0) + 1
    return conf


NOISE = (("ma", 12.0), ("ma", 6.0), ("bw", 6.0))  # the conditions measured on the held-out records


def noise_counts(model_path: Path, records: list[str]) -> dict:
    """Outcome counts (correct, wrong, unclassified, missed) of the beats in the noisy minutes, per NOISE
    condition, noise from the first half of each NSTDB record (selection data)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import noise_stress

    from ecgmtl.deploy.runtime import OnnxModel

    model = OnnxModel(model_path, device="cpu")
    out = {}
    for kind, snr in NOISE:
        res = noise_stress.run(model, records, [kind], [snr], "first")
        key = f"{kind}@{snr:g}"
        counts = np.sum([r[key] for r in res["per_record"].values()], axis=0)
        out.update({f"noise:{key}:{o}": int(c) for o, c in zip(noise_stress.OUTCOMES, counts)})
    return out


def one_lead_copies(db: Path, records: list[str], dst: Path, lead: str = "MLII") -> None:
    """Copies of the records that hold only `lead` (its samples exactly): what a one-lead Holter gives."""
    import wfdb

    for r in records:
        rec = wfdb.rdrecord(str(db / r), physical=False)
        j = rec.sig_name.index(lead)
        wfdb.wrsamp(
            r,
            fs=rec.fs,
            units=[rec.units[j]],
            sig_name=[lead],
            d_signal=rec.d_signal[:, [j]],
            fmt=["16"],
            adc_gain=[rec.adc_gain[j]],
            baseline=[rec.baseline[j]],
            write_dir=str(dst),
        )


def one_lead(name: str, db: Path, split: list[list[str]]) -> dict:
    """The fold models of CV run `name` on their held-out records copied with MLII alone (no other lead):
    pooled figures, beside the run's own (both leads, as recorded)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        conf: dict = {}
        for k, test in enumerate(split):
            one_lead_copies(db, test, Path(d))
            for key, v in score(ROOT / "runs" / "cv" / name / f"fold{k}" / "model.onnx", db, test, Path(d)).items():
                conf[key] = conf.get(key, 0) + v
    return figures(conf)


def figures(conf: dict) -> dict:
    noise = {k: v for k, v in conf.items() if k.startswith("noise:")}
    conf = {k: v for k, v in conf.items() if not k.startswith("noise:")}

    def n(ref="*", got="*"):
        return sum(
            v
            for k, v in conf.items()
            if (ref == "*" or k.split(">")[0] == ref) and (got == "*" or k.split(">")[1] == got)
        )

    found = n() - n(got="missed")
    out = {
        "beats": n(),
        "found": found,
        "accuracy": sum(n(c, c) for c in "NSVF") / max(found, 1),
        "unclassified": n(got="unclassified") / max(found, 1),
        "V_unclassified": n("V", "unclassified") / max(n("V"), 1),
        "N_as_F": n("N", "F") / max(n("N"), 1),
    }
    for c in "SV":
        tp, called = n(c, c), n(got=c)
        out[f"{c}_se"] = tp / max(n(c), 1)
        out[f"{c}_ppv"] = tp / max(called, 1)
    for kind, snr in NOISE:
        key = f"{kind}@{snr:g}"
        total = sum(noise.get(f"noise:{key}:{o}", 0) for o in ("correct", "wrong", "unclassified", "missed"))
        for o in ("correct", "wrong"):
            out[f"{key}_{o}"] = noise.get(f"noise:{key}:{o}", 0) / max(total, 1) if total else float("nan")
    return out


def row(name: str, f: dict, note: str = "") -> str:
    return (
        f"| {name} | {f['accuracy']:.3f} | {100 * f['S_se']:.1f} / {100 * f['S_ppv']:.1f} | "
        f"{100 * f['V_se']:.1f} / {100 * f['V_ppv']:.1f} | {100 * f['N_as_F']:.2f}% | "
        f"{100 * f['unclassified']:.2f}% ({100 * f['V_unclassified']:.2f}% of V) | "
        + " | ".join(f"{100 * f[f'{k}@{s:g}_correct']:.1f} / {100 * f[f'{k}@{s:g}_wrong']:.1f}" for k, s in NOISE)
        + f" | {note} |"
    )


FIGURES = (
    ("accuracy", 1, "accuracy"),
    ("S_se", 100, "S Se"),
    ("S_ppv", 100, "S PPV"),
    ("V_se", 100, "V Se"),
    ("V_ppv", 100, "V PPV"),
    ("N_as_F", 100, "N called F %"),
)


def summary(names: list[str], key: str = "pooled") -> str:
    """One markdown row: the median and range over earlier CV runs (seeds of one recipe) of the pooled figures
    (key "pooled_one_lead": those of --one-lead)."""
    pooled = [json.loads((ROOT / "runs" / "cv" / n / "cv.json").read_text())[key] for n in names]
    cells = []
    for key, scale, _ in FIGURES:
        v = np.array([f[key] for f in pooled]) * scale
        fmt = "{:.3f}" if scale == 1 else "{:.1f}"
        cells.append(f"{fmt.format(np.median(v))} [{fmt.format(v.min())}-{fmt.format(v.max())}]")
    return f"| {len(names)} runs | " + " | ".join(cells) + " |"


def main() -> None:
    from ecgmtl.data.mitdb import DS1, class_counts
    from ecgmtl.data.paths import data_root, database_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name")
    ap.add_argument(
        "--summary", default=None, help="comma-separated CV runs: print their median and range, train nothing"
    )
    ap.add_argument("--set", action="append", default=[], help="config override for every fold")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", default=None, help="comma-separated fold numbers (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="folds trained at once (each on one thread)")
    ap.add_argument("--note", default="")
    ap.add_argument(
        "--members",
        default=None,
        help="comma-separated earlier CV runs: no training, their fold models exported together",
    )
    ap.add_argument("--checkpoint", choices=["best", "last"], default="best", help="with --members: which checkpoint")
    ap.add_argument(
        "--one-lead", action="store_true", help="no training: the run's fold models on one-lead copies (MLII alone)"
    )
    args = ap.parse_args()
    if args.summary:
        print("| runs | " + " | ".join(label for *_, label in FIGURES) + " |")
        print(summary(args.summary.split(","), "pooled_one_lead" if args.one_lead else "pooled"))
        return
    if not args.name:
        ap.error("--name is required (or --summary)")
    db = database_dir(data_root(), "mitdb")
    counts = class_counts(db, list(DS1))
    split = folds(counts)
    todo = [int(k) for k in args.folds.split(",")] if args.folds else list(range(N_FOLDS))
    if args.one_lead:
        out = ROOT / "runs" / "cv" / args.name / "cv.json"
        if not out.is_file():
            ap.error(f"--one-lead scores a finished CV run; {out} does not exist")
        doc = json.loads(out.read_text())
        doc["pooled_one_lead"] = one_lead(args.name, db, split)
        out.write_text(json.dumps(doc, indent=1))
        print("| runs | " + " | ".join(label for *_, label in FIGURES) + " |")
        print(summary([args.name]) + " both leads")
        print(summary([args.name], "pooled_one_lead") + " MLII alone")
        return

    def one(k: int) -> tuple[int, dict]:
        test = split[k]
        train = [r for r in DS1 if r not in test]
        if args.members:
            model = export_fold(args.name, k, args.members.split(","), args.checkpoint)
        else:
            model = run_fold(args.name, k, test, train, validation_records(train, counts), args.set, args.seed)
        return k, {**score(model, db, test), **noise_counts(model, test)}

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(pool.map(one, todo))
    out = ROOT / "runs" / "cv" / args.name / "cv.json"
    old = json.loads(out.read_text()) if out.is_file() else {"folds": {}}
    old["folds"].update({str(k): v for k, v in results.items()})
    old.update({"split": split, "set": args.set, "seed": args.seed})
    if args.members:
        old.update({"members": args.members.split(","), "checkpoint": args.checkpoint})
    pooled: dict = {}
    for conf in old["folds"].values():
        for key, v in conf.items():
            pooled[key] = pooled.get(key, 0) + v
    old["pooled"] = figures(pooled)
    old["per_fold"] = {k: figures(v) for k, v in old["folds"].items()}
    out.write_text(json.dumps(old, indent=1))
    print("folds:", "; ".join(",".join(f) for f in split))
    print(f"folds done: {sorted(old['folds'])}")
    print(
        "| variant | accuracy | S Se / PPV | V Se / PPV | N called F | unclassified | "
        + " | ".join(f"{k} {s:g} dB correct / wrong" for k, s in NOISE)
        + " | note |"
    )
    print(row(args.name, old["pooled"], args.note))


if __name__ == "__main__":
    main()
