"""Atomic file writes: a temporary file in the target's folder, flushed and synced, then renamed over it,
so that a crash or a full disk never leaves a half-written file where a good one was."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_writes: dict[str, int] = {}


def _fault_point(path: Path) -> None:
    """Fault injection for the crash tests: ECGMTL_FAULT=kill-before-rename:NAME:N kills this process with
    SIGKILL during its Nth atomic write of a file called NAME, after the temporary file is written and
    before it replaces the target. Unset (always, outside the tests), it does nothing."""
    spec = os.environ.get("ECGMTL_FAULT", "")
    if not spec.startswith("kill-before-rename:"):
        return
    _, name, nth = spec.split(":")
    if path.name == name:
        _writes[name] = _writes.get(name, 0) + 1
        if _writes[name] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success it replaces `path`, on failure it is removed.

    The file gets the mode a plain open() would give it (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        _fault_point(path)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
