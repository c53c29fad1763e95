"""The tasks that ship with ecgmtl: one line each (importing a task's module registers it in TASKS)."""

import ecgmtl.tasks.beats.task  # noqa: F401
import ecgmtl.tasks.twelve_lead.task  # noqa: F401
