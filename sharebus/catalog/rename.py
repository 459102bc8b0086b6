"""Copy a city's catalog with department ids renamed: isolated test and benchmark catalogs whose
sources are their own capture connectors."""

from __future__ import annotations

import re
from pathlib import Path


def rename_departments(source: Path, target: Path, departments: dict[str, str]) -> Path:
    """Copy the catalog folder `source` to `target`, renaming department ids (old → new) wherever
    they name a department, a resource prefix or a connector (`cdc.<dept>`). Returns `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if not path.is_file():
            continue
        text = path.read_text()
        for old, new in departments.items():
            text = re.sub(rf"(?<![\w-]){re.escape(old)}(?=[.\s,\]}}]|$)", new, text, flags=re.M)
        (target / path.name).write_text(text)
    return target
