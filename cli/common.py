"""What every command shares: turning library errors into one line on stderr and an exit code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ecgmtl.errors import EcgmtlError, first_line

T = TypeVar("T")


def say(msg: str) -> None:
    """Logs and progress go to stderr, so that stdout carries only results (e.g. --json)."""
    print(msg, file=sys.stderr, flush=True)


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the library; a user-caused error becomes `ecgmtl: error: ...` and its exit code, never a traceback."""
    try:
        return fn(*args, **kwargs)
    except EcgmtlError as e:
        say(f"ecgmtl: error: {e}")
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        say("ecgmtl: interrupted")
        raise typer.Exit(130) from None
    except Exception as e:  # a bug: one line, the traceback only on request
        if os.environ.get("ECGMTL_DEBUG"):
            raise
        first = first_line(e)
        say(f"ecgmtl: internal error: {type(e).__name__}: {first} (set ECGMTL_DEBUG=1 for the traceback)")
        raise typer.Exit(1) from None


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()
