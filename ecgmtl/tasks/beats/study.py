"""`ecgmtl study`: a grid of multi-task settings (sharing x weighting x schedule x ...) over several seeds,
each trained on DS1, its checkpoint chosen on the held-out DS1 records, and measured on DS2; one table of
mean and standard deviation per setting.

The study file (YAML):

    base: ../configs/mitdb.yaml          # the training config every run starts from (relative to this file)
    seeds: [0, 1, 2]
    set: [schedule.joint_epochs=6]       # overrides for every run: the common budget
    options:                             # per axis, named settings: lists of overrides
      sharing: {hard: [model.sharing=hard], none: [model.sharing=none]}
      weighting: {}                      # a value not listed here means weighting.name=<value>
    grid:                                # the union of these cross products; a missing axis takes its first option
      - {sharing: [none, hard], weighting: [fixed]}
    report_constraints: [...]            # bounds whose violation rate every row reports (soft-constraint rows)

Each run is a subprocess (`ecgmtl train`), so a run that fails is listed and the others go on; a study that
was stopped continues where it was (finished runs are kept, unfinished ones resume from last.pt).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecgmtl.errors import ConfigError, RecordError, first_line
from ecgmtl.io.atomic import atomic_path
from ecgmtl.tasks.beats.study_table import format_csv, format_table, summarise
from ecgmtl.tasks.beats.task import BeatTask
from ecgmtl.tasks.registry import get_task

AXES_DEFAULT = {"weighting": lambda v: [f"weighting.name={v}"]}


@dataclass(frozen=True)
class Row:
    """One setting of the grid: its value on each axis and the overrides that make it."""

    values: tuple[tuple[str, str], ...]
    overrides: tuple[str, ...]

    @property
    def name(self) -> str:
        return "__".join(f"{a}-{v}" for a, v in self.values).replace("/", "_")


@dataclass
class Study:
    path: Path
    base: Path
    seeds: list[int]
    common: list[str]
    axes: dict[str, dict[str, list[str]]]
    rows: list[Row]
    report_constraints: list[dict] = field(default_factory=list)
    baseline: str | None = None  # the row every other row is compared with, seed by seed


def load_study(path: str | os.PathLike) -> Study:
    """Read and check a study file; every row's config is validated before any run starts."""
    import yaml

    from ecgmtl.config import load_config
    from ecgmtl.data.mitdb import CLASSES
    from ecgmtl.mtl.constraints import ConstraintConfig, check_constraints
    from ecgmtl.train.preflight import check_config

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"study file {p} does not exist")
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"study file {p} is not valid YAML ({first_line(e)})") from None
    unknown = set(doc) - {"base", "seeds", "set", "options", "grid", "report_constraints", "description", "baseline"}
    if unknown:
        raise ConfigError(f"study file {p}: unknown keys {sorted(unknown)}")
    if "base" not in doc or "grid" not in doc:
        raise ConfigError(f"study file {p} needs 'base' (a training config) and 'grid'")
    base = (p.parent / doc["base"]).resolve()
    if not base.is_file():
        raise ConfigError(f"study file {p}: its base config {base} does not exist")
    seeds = [int(s) for s in doc.get("seeds", [0, 1, 2])]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"study file {p}: 'seeds' must be a non-empty list of distinct integers")
    axes = {
        a: {str(k): list(v or []) for k, v in (opts or {}).items()} for a, opts in (doc.get("options") or {}).items()
    }
    rows: list[Row] = []
    for block in doc["grid"]:
        names = list(axes) + [a for a in block if a not in axes]
        choices = []
        for a in names:
            values = block.get(a)
            if values is None:
                if not axes.get(a):
                    raise ConfigError(f"study file {p}: axis {a!r} has no options to default to")
                values = [next(iter(axes[a]))]
            choices.append([(a, str(v)) for v in (values if isinstance(values, list) else [values])])
        for combo in itertools.product(*choices):
            over: list[str] = []
            for a, v in combo:
                if v in axes.get(a, {}):
                    over += axes[a][v]
                elif a in AXES_DEFAULT:
                    over += AXES_DEFAULT[a](v)
                else:
                    raise ConfigError(
                        f"study file {p}: {a}={v} is not among options.{a} ({', '.join(axes.get(a, {}))})"
                    )
            row = Row(tuple(combo), tuple(over))
            if row.name not in {r.name for r in rows}:
                rows.append(row)
    study = Study(
        p, base, seeds, [str(s) for s in doc.get("set") or []], axes, rows, list(doc.get("report_constraints") or [])
    )
    if doc.get("baseline") is not None:
        wanted = {str(k): str(v) for k, v in doc["baseline"].items()}
        match = [r for r in rows if all(dict(r.values).get(k) == v for k, v in wanted.items())]
        if len(match) != 1:
            raise ConfigError(f"study file {p}: baseline {wanted} matches {len(match)} rows; it must match one")
        study.baseline = match[0].name
    try:
        probes = [ConstraintConfig(**c) for c in study.report_constraints]
    except TypeError as e:
        raise ConfigError(f"study file {p}: report_constraints: {e}") from None
    check_constraints(probes, CLASSES)
    for row in rows:  # fail before hours of training, not in the middle
        try:
            cfg = load_config(base, study.common + list(row.overrides))
            if not isinstance(get_task(cfg.task), BeatTask):
                raise ConfigError(
                    f"ecgmtl study measures beat (MIT-BIH) runs on {cfg.data.test}; for the 12-lead task use "
                    "data_scripts/ptbxl_study.py"
                )
            check_config(cfg)
        except ConfigError as e:
            raise ConfigError(f"study row {row.name}: {e}") from None
    return study


def run_study(study: Study, out: Path, workers: int = 2, threads: int = 1, progress: bool = True) -> dict:
    """Train and measure every (row, seed); write results.jsonl, table.md, table.csv and study.json in `out`."""
    from tqdm import tqdm

    out = out.resolve()  # the runs are subprocesses: one absolute folder for them and for us
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecordError(f"cannot create the study folder {out} ({e.strerror})") from None
    jobs = [(row, seed) for row in study.rows for seed in study.seeds]
    for row, seed in jobs:  # runs made from another spec are refused, not silently reused
        _check_spec(study, row, out / "runs" / row.name / f"seed{seed}")
    t0 = time.time()
    results: dict[tuple[str, int], dict] = {}
    failures: list[dict] = []
    pool = ThreadPoolExecutor(max_workers=max(workers, 1))
    try:
        futures = {pool.submit(_run_one, study, row, seed, out, threads): (row, seed) for row, seed in jobs}
        bar = tqdm(total=len(jobs), desc="study", disable=not progress, file=sys.stderr)
        for fut in as_completed(futures):
            row, seed = futures[fut]
            res = fut.result()
            if "error" in res:
                failures.append({"row": row.name, "seed": seed, "error": res["error"]})
                print(f"study: {row.name} seed {seed} failed: {res['error']}", file=sys.stderr)
            else:
                results[(row.name, seed)] = res
            bar.update(1)
        bar.close()
    except BaseException:  # Ctrl-C: no new run starts, the running ones stop (they resume next time)
        _STOP.set()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(_CHILDREN):
            proc.terminate()
        raise
    pool.shutdown()
    wall = time.time() - t0
    prev = json.loads((out / "study.json").read_text()) if (out / "study.json").is_file() else {}
    invocations = int(prev.get("invocations", 1 if prev else 0)) + 1  # a resumed study adds to the clock
    ordered = [results[(r.name, s)] for r in study.rows for s in study.seeds if (r.name, s) in results]
    with atomic_path(out / "results.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in ordered))
    summary = summarise(study, ordered)
    info = {
        "study": str(study.path),
        "base": str(study.base),
        "seeds": study.seeds,
        "common_overrides": study.common,
        "runs": len(ordered),
        "failed": failures,
        "wall_seconds": round(wall + float(prev.get("wall_seconds", 0.0)), 1),
        "invocations": invocations,
        "run_seconds_total": round(sum(r["train_seconds"] for r in ordered), 1),
        "workers": workers,
        "threads_per_run": threads,
        "cpu_count": os.cpu_count(),
        "rows": summary,
    }
    with atomic_path(out / "study.json") as tmp:
        tmp.write_text(json.dumps(info, indent=1))
    md = format_table(study, summary, info)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(md)
    with atomic_path(out / "table.csv") as tmp:
        tmp.write_text(format_csv(study, summary))
    return info


_STOP = threading.Event()
_CHILDREN: set[subprocess.Popen] = set()


def _spec(study: Study, row: Row) -> dict:
    return {
        "base": str(study.base),
        "common": study.common,
        "row": list(row.overrides),
        "report_constraints": study.report_constraints,
    }


def _check_spec(study: Study, row: Row, run: Path) -> None:
    f = run / "spec.json"
    if f.is_file() and json.loads(f.read_text()) != _spec(study, row):
        raise ConfigError(
            f"{run} was made from another version of this study (its spec.json differs); "
            "use another --out, or delete that folder to redo it"
        )


def _run_one(study: Study, row: Row, seed: int, out: Path, threads: int) -> dict:
    """Train one run in a subprocess (or resume it), then measure it on DS2; a finished run is read back."""
    run = out / "runs" / row.name / f"seed{seed}"
    done = run / "ds2.json"
    if done.is_file():
        return json.loads(done.read_text())
    if _STOP.is_set():
        return {"error": "interrupted"}
    cmd = [sys.executable, "-m", "cli.main", "train", "--no-progress"]
    if (run / "last.pt").is_file():
        cmd += ["--resume", str(run)]
    else:
        cmd += ["--config", str(study.base), "--out", str(run), "--seed", str(seed)]
        for o in study.common + list(row.overrides) + [f"train.threads={threads}"]:
            cmd += ["--set", o]
    run.mkdir(parents=True, exist_ok=True)
    with atomic_path(run / "spec.json") as tmp:
        tmp.write_text(json.dumps(_spec(study, row)))
    t0 = time.time()
    with open(run.parent / f"seed{seed}.log", "a") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        _CHILDREN.add(proc)
        try:
            proc.wait()
        finally:
            _CHILDREN.discard(proc)
    if proc.returncode != 0:
        last = (run.parent / f"seed{seed}.log").read_text().strip().splitlines()[-1:] or ["(no output)"]
        return {"error": f"exit {proc.returncode}: {last[0][:200]}"}
    try:
        res = measure_run(run, study.report_constraints, threads)
    except Exception as e:  # one broken run must not stop the study
        return {"error": f"{type(e).__name__}: {first_line(e)}"}
    timing = [json.loads(x) for x in (run / "timing.jsonl").read_text().splitlines() if x.strip()]
    res.update(
        row=row.name,
        axes=dict(row.values),
        seed=seed,
        train_seconds=round(sum(t["seconds"] for t in timing), 1),
        wall_seconds=round(time.time() - t0, 1),
    )
    with atomic_path(done) as tmp:
        tmp.write_text(json.dumps(res))
    return res


def measure_run(run: Path, report_constraints: list[dict], threads: int = 1) -> dict:
    """DS2 figures of a run's best checkpoint, through the same graph the ONNX export holds (torch here)."""
    import torch

    from ecgmtl.config import config_from_dict
    from ecgmtl.data.mitdb import CLASSES, load_beats, resolve_records
    from ecgmtl.data.paths import cache_dir, data_root, database_dir
    from ecgmtl.deploy.graph import Deployable
    from ecgmtl.metrics import class_report, constraint_report, prd
    from ecgmtl.mtl.constraints import ConstraintConfig, declared_constraints, resolve
    from ecgmtl.train.checkpoint import load_checkpoint, model_from_checkpoint

    if threads:
        torch.set_num_threads(threads)
    ck = load_checkpoint(run / "best.pt")
    model, _ = model_from_checkpoint(ck)
    cfg = config_from_dict(ck["config"])
    meta = ck["meta"]
    db = database_dir(data_root(cfg.data.data_dir), "mitdb")
    ds = load_beats(db, resolve_records(cfg.data.test), cfg.preprocess, cache_dir(cfg.data.cache_dir))
    wrapper = Deployable(model, meta).eval()
    probs, recon = [], []
    with torch.no_grad():
        for s in range(0, len(ds.labels), 4096):
            p, r = wrapper(torch.from_numpy(ds.windows[s : s + 4096]), torch.from_numpy(ds.rr[s : s + 4096]))
            probs.append(p.numpy())
            recon.append(r.numpy())
    p, r = np.concatenate(probs), np.concatenate(recon)
    rep = class_report(ds.labels, p.argmax(1), CLASSES)
    noisy = class_report(ds.labels, noisy_predictions(wrapper, ds, cfg), CLASSES)
    probes = resolve([ConstraintConfig(**c) for c in report_constraints], CLASSES, tuple(meta["recon_bounds"]))
    return {
        "run": str(run),
        "best_epoch": meta["epoch"],
        "macro_f1": rep["macro_f1"],
        "accuracy": rep["accuracy"],
        **{f"{c}_{m}": rep["per_class"][c][m] for c in ("S", "V") for m in ("se", "ppv")},
        "prd": prd(ds.windows[:, 0], r[:, 0]),
        "macro_f1_noisy": noisy["macro_f1"],
        **{f"{c}_se_noisy": noisy["per_class"][c]["se"] for c in ("S", "V")},
        "constraints": constraint_report(p, r, declared_constraints(meta)),
        "report_constraints": [c["violation_rate"] for c in constraint_report(p, r, probes)],
    }


NOISY_SNR_DB = (0.0, 12.0)  # every DS2 window, noise at an SNR drawn uniformly from this range


def noisy_predictions(wrapper, ds, cfg, seed: int = 0) -> np.ndarray:
    """Predicted classes of the test windows with NSTDB noise from the **second** half of each noise record
    (ma, bw or both; see augment.add_noise) at NOISY_SNR_DB, the same noise for every run (a fixed seed), so
    that runs are compared on identical inputs."""
    import torch

    from ecgmtl.augment.noise import NoiseBank, add_noise
    from ecgmtl.data.paths import data_root, database_dir

    bank = NoiseBank(database_dir(data_root(cfg.data.data_dir), "nstdb"), cfg.preprocess, half="second")
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for s in range(0, len(ds.labels), 4096):
            x = add_noise(torch.from_numpy(ds.windows[s : s + 4096]), bank, 1.0, NOISY_SNR_DB, cfg.preprocess.pre, gen)
            out.append(wrapper(x, torch.from_numpy(ds.rr[s : s + 4096]))[0].numpy().argmax(1))
    return np.concatenate(out)
