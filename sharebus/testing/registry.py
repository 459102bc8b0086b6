"""A schema registry without a server, for routing and encoding tests: it only hands out ids."""

from __future__ import annotations

from typing import Any


class IdRegistry:
    """Registers a subject once and answers its id (1, 2, …), as a SchemaBook needs."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        return self.ids.setdefault(subject, len(self.ids) + 1)
