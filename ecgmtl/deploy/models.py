"""The shipped default models (package data, ecgmtl.shipped): one per task that ships one, chosen for a
record by what the record holds."""

from __future__ import annotations

import os
from pathlib import Path

from ecgmtl.tasks.base import DEFAULT_TASK, Task
from ecgmtl.tasks.registry import all_tasks, get_task


def shipped_model(task: Task) -> Path:
    """The task's default model: $<task.model_env> if set, else the file shipped in the package."""
    env = os.environ.get(task.model_env) if task.model_env else None
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("ecgmtl.shipped") / task.default_model))


def default_model_path() -> Path:
    """The default task's shipped model (the beat model)."""
    return shipped_model(get_task(DEFAULT_TASK))


def default_model_for(record: str | os.PathLike) -> Path:
    """The shipped model of the highest-priority task that accepts the record (the 12-lead model for a record
    with at least 6 of the 12 standard leads, else the beat model)."""
    tasks = sorted((t for t in all_tasks() if t.default_model), key=lambda t: -t.priority)
    return shipped_model(next((t for t in tasks if t.accepts(record)), get_task(DEFAULT_TASK)))


def companion_models(task: Task) -> list[Path]:
    """The shipped models of the tasks that join `task`'s predictions (Task.companion_of)."""
    return [shipped_model(t) for t in all_tasks() if t.default_model and task.name in t.companion_of]
