"""A schema registry without a server, for routing and encoding tests: it only hands out ids."""

from __future__ import annotations

import json
from typing import Any


class IdRegistry:
    """Answers one id (1, 2, …) per distinct schema, whatever the subject, as a registry does
    (a subject holds several schemas: a resource's projections)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.subjects: set[str] = set()

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        self.subjects.add(subject)
        return self.ids.setdefault(json.dumps(schema, sort_keys=True), len(self.ids) + 1)
