"""The progress callback type long-running services report through (the CLI prints to stderr)."""

from __future__ import annotations

from collections.abc import Callable

Echo = Callable[[str], None]


def silent(_line: str) -> None:
    """An Echo that discards progress."""
