"""Downloading the PhysioNet databases with wfdb (the only code path that needs the network)."""

from __future__ import annotations

from pathlib import Path

from ecgmtl.errors import RecordError, first_line

DATABASES = {
    "mitdb": "mitdb",
    "nstdb": "nstdb",
    "ptb-xl": "ptb-xl",
    "ptbxl": "ptb-xl",
    "cinc2017": "challenge-2017",
    "challenge-2017": "challenge-2017",
}
FOLDERS = {"mitdb": "mitdb", "nstdb": "nstdb", "ptb-xl": "ptbxl", "challenge-2017": "cinc2017"}
# Tables that are not WFDB files, so that dl_database leaves them behind. The challenge's current labels are
# REFERENCE-v3.csv, kept as the REFERENCE.csv that ecgmtl.data.cinc2017 reads.
EXTRA_FILES = {"ptb-xl": ("ptbxl_database.csv", "scp_statements.csv"), "challenge-2017": ("REFERENCE-v3.csv",)}


def download(database: str, data_dir: Path) -> Path:
    """Fetch `database` into data_dir/<folder>; one clear error when offline or the name is unknown."""
    if database not in DATABASES:
        raise RecordError(f"unknown database {database!r}; choose one of: mitdb, nstdb, ptb-xl, cinc2017")
    name = DATABASES[database]
    dest = Path(data_dir) / FOLDERS[name]
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecordError(f"cannot create {dest}: {e.strerror}") from None
    import wfdb

    try:
        wfdb.dl_database(name, str(dest))
        if name in EXTRA_FILES:
            from wfdb.io.download import dl_files

            dl_files(name, str(dest), list(EXTRA_FILES[name]))
        if name == "challenge-2017":
            (dest / "REFERENCE.csv").write_bytes((dest / "REFERENCE-v3.csv").read_bytes())
    except Exception as e:
        first = first_line(e, 150)
        raise RecordError(f"cannot download {name} from PhysioNet ({first}); are you offline?") from None
    return dest
