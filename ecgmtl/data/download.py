"""Downloading the PhysioNet databases with wfdb (the only code path that needs the network)."""

from __future__ import annotations

from pathlib import Path

from ecgmtl.errors import RecordError, first_line

DATABASES = {"mitdb": "mitdb", "nstdb": "nstdb", "ptb-xl": "ptb-xl", "ptbxl": "ptb-xl"}
FOLDERS = {"mitdb": "mitdb", "nstdb": "nstdb", "ptb-xl": "ptbxl"}
EXTRA_FILES = {"ptb-xl": ("ptbxl_database.csv", "scp_statements.csv")}


def download(database: str, data_dir: Path) -> Path:
    """Fetch `database` into data_dir/<folder>; one clear error when offline or the name is unknown."""
    if database not in DATABASES:
        raise RecordError(f"unknown database {database!r}; choose one of: mitdb, nstdb, ptb-xl")
    name = DATABASES[database]
    dest = Path(data_dir) / FOLDERS[name]
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecordError(f"cannot create {dest}: {e.strerror}") from None
    import wfdb

    try:
        wfdb.dl_database(name, str(dest))
        if name == "ptb-xl":  # its tables are not WFDB files, so dl_database leaves them behind
            from wfdb.io.download import dl_files

            dl_files(name, str(dest), list(EXTRA_FILES[name]))
    except Exception as e:
        first = first_line(e, 150)
        raise RecordError(f"cannot download {name} from PhysioNet ({first}); are you offline?") from None
    return dest
