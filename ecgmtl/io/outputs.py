"""Writing outputs safely, and finding the records a command was given."""

from __future__ import annotations

from pathlib import Path

from ecgmtl.io.atomic import atomic_path


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def find_records(paths: list[Path]) -> list[Path]:
    """Records named directly (x, x.dat or x.hea, kept as given) and every record (a .hea) inside folders,
    in order, each once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        for q in sorted({h.with_suffix("") for h in p.rglob("*.hea")}) if p.is_dir() else [p]:
            key = q.with_suffix("") if q.suffix in (".dat", ".hea", ".mat") else q
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out
