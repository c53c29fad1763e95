"""Prediction with an exported model, whatever its task: the model's task (read from its metadata) predicts
each record. numpy, scipy, wfdb and onnxruntime only (no torch)."""

from __future__ import annotations

import os
from pathlib import Path

from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.errors import EcgmtlError, first_line
from ecgmtl.tasks.base import PredictOptions
from ecgmtl.tasks.registry import task_for_meta


def predict_record(model: OnnxModel, path: str | os.PathLike, opts: PredictOptions | None = None) -> dict:
    """One record through `model`: a JSON-ready dict (what is in it is the task's; see its predict). With
    opts.restorer (--denoise), the record is first restored by that model into a temporary folder, and the
    task predicts on the restored copy; the result says so under record.denoised."""
    opts = opts or PredictOptions()
    task = task_for_meta(model.meta)
    if opts.restorer is None:
        return _predict(model, task, path, opts)
    import tempfile

    from ecgmtl.tasks.restore.engine import restore_record

    with tempfile.TemporaryDirectory(prefix="ecgmtl-denoise-") as d:
        restored = restore_record(opts.restorer, path, Path(d))
        result = _predict(model, task, restored.header.with_suffix(""), opts)
    result["record"]["path"] = str(path)
    result["record"]["denoised"] = {
        "model": opts.restorer.name,
        "removed_rms_mv": dict(zip(restored.leads, (round(r, 4) for r in restored.removed_rms_mv))),
        "note": "beats detected and classified on the restored signal (every lead, filtered 0.5-40 Hz)",
    }
    return result


def _predict(model: OnnxModel, task, path, opts: PredictOptions) -> dict:
    """The task's prediction with each companion model's part (on the same record and lead) under its task's
    name; the companions run in threads beside the main model."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    if not opts.companions:
        return task.predict(model, path, opts)
    lead = opts.lead or (model.meta.get("preprocess") or {}).get("lead")
    side = replace(opts, lead=lead, companions=[], outputs={}, keep_arrays=False)
    with ThreadPoolExecutor(len(opts.companions)) as pool:
        tasks = [task_for_meta(c.meta) for c in opts.companions]
        futures = [(ct, pool.submit(ct.predict, c, path, side)) for ct, c in zip(tasks, opts.companions)]
        result = task.predict(model, path, opts)
        for ct, f in futures:
            try:
                result[ct.name] = ct.companion_part(f.result())
            except EcgmtlError as e:  # the main prediction stands; what the companion could not do is said
                result["record"].setdefault("warnings", []).append(f"{ct.name} model: {e}")
    return result


def write_outputs(model: OnnxModel, result: dict, out_dir: Path, opts: PredictOptions) -> list[Path]:
    """The per-record files asked for in opts.outputs, by the model's task."""
    return task_for_meta(model.meta).write_outputs(result, out_dir, opts)


def format_result(model: OnnxModel, result: dict, companions: list[OnnxModel] = ()) -> str:
    """The main task's lines, then each companion's part."""
    text = [task_for_meta(model.meta).format_prediction(result)]
    for c in companions:
        ct = task_for_meta(c.meta)
        if ct.name in result:
            text.append(ct.format_companion(result[ct.name], result["record"]))
    return "\n".join(text)


def summary_csv(model: OnnxModel, rows: list[dict]) -> str:
    return task_for_meta(model.meta).summary_csv(rows, list(model.meta["classes"]))


def predict_many(
    model: OnnxModel, paths: list[Path], opts: PredictOptions, progress: bool = True, each=None
) -> tuple[list[dict], list[dict]]:
    """predict_record over many records; a record that fails is listed with its reason and the others go on.
    `each(result)` is called after every record that succeeded (to write its files). Returns (results,
    failures); failures hold name, path and a one-line error."""
    import sys

    from tqdm import tqdm

    results, failures = [], []
    for p in tqdm(paths, desc="records", unit="record", disable=not progress, file=sys.stderr):
        try:
            res = predict_record(model, p, opts)
            if each is not None:
                each(res)
            results.append(res)
        except EcgmtlError as e:
            failures.append({"name": Path(p).stem, "path": str(p), "error": str(e)})
        except Exception as e:  # a bug on one odd record must not stop the others; said in one line
            first = first_line(e)
            failures.append(
                {"name": Path(p).stem, "path": str(p), "error": f"internal error: {type(e).__name__}: {first}"}
            )
    return results, failures
