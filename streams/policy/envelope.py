"""The Debezium change-event envelope (JSON, schemas disabled) as the policy reads it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OP_CREATE = "c"
OP_UPDATE = "u"
OP_DELETE = "d"
OP_READ = "r"  # snapshot read
OP_TRUNCATE = "t"
ROW_OPS = frozenset({OP_CREATE, OP_UPDATE, OP_DELETE, OP_READ})

SourceKey = tuple[str, str, str]
"""(Debezium logical name = topic.prefix, schema, table), e.g. `(cdc.market, public, enterprise)`."""


def source_key(event: Mapping[str, Any]) -> SourceKey | None:
    """Where an event comes from, from its `source` block; None when it is not there."""
    source = event.get("source")
    if not isinstance(source, dict):
        return None
    # MySQL/MariaDB have no schemas: their events name the database where PostgreSQL's name the schema.
    name, schema, table = source.get("name"), source.get("schema") or source.get("db"), source.get("table")
    if isinstance(name, str) and isinstance(schema, str) and isinstance(table, str):
        return name, schema, table
    return None


def row_image(event: Mapping[str, Any], op: str) -> Mapping[str, Any] | None:
    """The row a check or a route reads: the before-image for deletes, else the after-image."""
    row = event.get("before" if op == OP_DELETE else "after")
    return row if isinstance(row, dict) else None
