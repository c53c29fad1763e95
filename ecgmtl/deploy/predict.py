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
        return task.predict(model, path, opts)
    import tempfile

    from ecgmtl.tasks.restore.engine import restore_record

    with tempfile.TemporaryDirectory(prefix="ecgmtl-denoise-") as d:
        restored = restore_record(opts.restorer, path, Path(d))
        result = task.predict(model, restored.header.with_suffix(""), opts)
    result["record"]["path"] = str(path)
    result["record"]["denoised"] = {
        "model": opts.restorer.name,
        "removed_rms_mv": dict(zip(restored.leads, (round(r, 4) for r in restored.removed_rms_mv))),
        "note": "beats detected and classified on the restored signal (every lead, filtered 0.5-40 Hz)",
    }
    return result


def write_outputs(model: OnnxModel, result: dict, out_dir: Path, opts: PredictOptions) -> list[Path]:
    """The per-record files asked for in opts.outputs, by the model's task."""
    return task_for_meta(model.meta).write_outputs(result, out_dir, opts)


def format_result(model: OnnxModel, result: dict) -> str:
    return task_for_meta(model.meta).format_prediction(result)


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
