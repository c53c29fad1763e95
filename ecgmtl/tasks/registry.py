"""The tasks that ship with ecgmtl, one line each (importing a task's module registers it in TASKS), and the
lookups: a task by name, the task of a model's metadata (the one place a model's kind is read)."""

from __future__ import annotations

import ecgmtl.tasks.beats.task  # noqa: F401
import ecgmtl.tasks.restore.task  # noqa: F401
import ecgmtl.tasks.rhythm.task  # noqa: F401
import ecgmtl.tasks.twelve_lead.task  # noqa: F401
from ecgmtl.errors import ConfigError, ModelError
from ecgmtl.tasks.base import DEFAULT_TASK, TASKS, Task


def get_task(name: str) -> Task:
    """A new instance of the task `name` (registered name, alias, or `module:Class`)."""
    return TASKS.get(name)()


def task_for_meta(meta: dict) -> Task:
    """The task of a checkpoint's or an exported model's metadata: the one place a model's kind is read. A task
    this ecgmtl does not know (a newer version's, or a plug-in's that cannot be imported) is a ModelError."""
    name = meta.get("task") or DEFAULT_TASK
    try:
        return get_task(name)
    except ConfigError as e:
        raise ModelError(
            f"model {meta.get('name', '')!r} is of task {name!r}, which this ecgmtl cannot use ({e}); "
            f"it was made by ecgmtl {meta.get('code_version', '?')}"
        ) from None


def all_tasks() -> list[Task]:
    return [TASKS.get(n)() for n in TASKS.names()]
