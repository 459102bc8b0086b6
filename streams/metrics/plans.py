"""A metrics query ready to run: named SQL statements and the function shaping their rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class Queryable(Protocol):
    """What a plan needs of a store."""

    def query(
        self, sql: str, params: Mapping[str, str | int | float] | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: dict[str, str | int | float] = field(default_factory=dict)


Rows = list[dict[str, Any]]
Shaper = Callable[[Mapping[str, Rows]], dict[str, Any]]
FollowUp = Callable[[Mapping[str, Rows]], Statement | None]
"""A statement built from the rows of the statements before it (None: nothing to ask)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A query ready to run: statements by result name, in order, and how to shape their rows."""

    name: str
    statements: dict[str, Statement | FollowUp]
    shape: Shaper

    def run(self, store: Queryable) -> dict[str, Any]:
        results: dict[str, Rows] = {}
        for key, step in self.statements.items():
            statement = step if isinstance(step, Statement) else step(results)
            results[key] = store.query(statement.sql, statement.params) if statement is not None else []
        return self.shape(results)
