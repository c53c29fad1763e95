"""The project's exceptions. The CLI turns each into one line on stderr and an exit code."""


class EcgmtlError(Exception):
    """Base class: a problem the user can fix; the message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(EcgmtlError):
    """An invalid configuration value, an unknown name or a bad command-line option."""

    exit_code = 2


class RecordError(EcgmtlError):
    """A record (or data folder) that cannot be read or used."""

    exit_code = 3


class ModelError(EcgmtlError):
    """A model or checkpoint file that is missing, broken or incompatible."""

    exit_code = 3


class TrainingStopped(EcgmtlError):
    """Training stopped cleanly on numerical faults; the last good checkpoint is intact."""

    exit_code = 4


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message, at most `limit` characters; its type's name when the
    message is empty (so a one-line error never ends in an empty pair of brackets)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:limit]
