"""Generated blocks in the README: the text between `<!-- marker -->` and `<!-- /marker -->` is replaced
(atomically) by figures a command measured, so the README never carries numbers typed by hand."""

from __future__ import annotations

import re
from pathlib import Path

from ecgmtl.errors import ConfigError
from ecgmtl.io.atomic import atomic_path


def _block(marker: str) -> str:
    return rf"<!-- {re.escape(marker)} -->.*?<!-- /{re.escape(marker)} -->"


def readme_block(readme: Path, marker: str) -> str:
    """The README's text, after checking that it has the marker's block (call it before long work)."""
    readme = Path(readme)
    if not readme.is_file():
        raise ConfigError(f"README {readme} does not exist")
    text = readme.read_text()
    if not re.search(_block(marker), text, flags=re.S):
        raise ConfigError(f"{readme} has no '<!-- {marker} -->' ... '<!-- /{marker} -->' block to fill")
    return text


def update_readme(readme: Path, marker: str, body: str) -> None:
    """Replace the marker's block in readme with body."""
    text = readme_block(readme, marker)
    new = re.sub(_block(marker), lambda m: f"<!-- {marker} -->\n{body}\n<!-- /{marker} -->", text, flags=re.S)
    with atomic_path(readme) as tmp:
        tmp.write_text(new)
