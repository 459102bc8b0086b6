"""Avro record schemas as SQL columns, and the DDL that evolves a district table to a new schema
(an added field is `ALTER TABLE … ADD COLUMN`; a field that became masked text widens to text)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from psycopg import sql

from schemas.derive import MASK_PROPERTY, TYPE_PROPERTY
from sharebus.apps.district.errors import SchemaEvolutionError
from sharebus.apps.district.naming import META_PREFIX


class Kind(StrEnum):
    """The SQL type a field is kept in (the value is the PostgreSQL type name)."""

    TEXT = "text"
    BIGINT = "bigint"
    NUMERIC = "numeric"
    DATE = "date"
    TIMESTAMPTZ = "timestamp with time zone"
    DOUBLE = "double precision"
    BOOLEAN = "boolean"


_BASE = {
    "string": Kind.TEXT,
    "long": Kind.BIGINT,
    "int": Kind.BIGINT,
    "double": Kind.DOUBLE,
    "float": Kind.DOUBLE,
    "boolean": Kind.BOOLEAN,
}
_LOGICAL = {"date": Kind.DATE, "timestamp-micros": Kind.TIMESTAMPTZ, "timestamp-millis": Kind.TIMESTAMPTZ}

META_COLUMNS: tuple[tuple[str, str], ...] = (
    (f"{META_PREFIX}offset", "bigint"),
    (f"{META_PREFIX}policy_version", "text"),
    (f"{META_PREFIX}demand_id", "text"),
    (f"{META_PREFIX}synced_at", "timestamp with time zone"),
)
"""Lineage of each row: the topic offset, policy version and demand it was delivered under."""


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a record schema as a column; key fields are the non-nullable ones (derive
    makes every other field a union with null)."""

    name: str
    kind: Kind
    key: bool


def kind_of(avro_field: Mapping[str, Any]) -> Kind:
    """The column type of one Avro field: a decimal delivered in clear is `numeric`, a masked
    one stays text; dates and timestamps keep their logical types."""
    avro = avro_field["type"]
    if isinstance(avro, list):
        avro = next((t for t in avro if t != "null"), "string")
    if isinstance(avro, Mapping):
        logical = avro.get("logicalType")
        if isinstance(logical, str) and logical in _LOGICAL:
            return _LOGICAL[logical]
        avro = avro.get("type", "string")
    kind = _BASE.get(str(avro), Kind.TEXT)
    if kind is Kind.TEXT and avro_field.get(TYPE_PROPERTY) == "decimal" and MASK_PROPERTY not in avro_field:
        return Kind.NUMERIC
    return kind


def columns_of(schema: Mapping[str, Any], where: str) -> tuple[Column, ...]:
    """The columns of a record schema, in field order; SchemaEvolutionError for a field name the
    sync reserves for its lineage columns."""
    out = []
    for field in schema.get("fields", ()):
        name = str(field["name"])
        if name.startswith(META_PREFIX):
            raise SchemaEvolutionError(
                f"{where} field {name}",
                "collides with the sync's lineage columns",
                expected=f"field names not starting with {META_PREFIX!r}",
                actual=name,
                fix="rename the field in the catalog (the sync reserves the prefix)",
            )
        nullable = isinstance(field["type"], list) and "null" in field["type"]
        out.append(Column(name, kind_of(field), key=not nullable))
    return tuple(out)


def create_table(schema: str, table: str, columns: Sequence[Column]) -> sql.Composed:
    """CREATE TABLE with the record's columns, the lineage columns and the key as primary key."""
    keys = [c.name for c in columns if c.key]
    defs = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.kind.value)) for c in columns]
    defs += [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in META_COLUMNS]
    defs.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, keys))))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(defs)
    )


def evolve(
    schema: str,
    table: str,
    existing: Mapping[str, str],
    keys: Sequence[str],
    wanted: Sequence[Column],
) -> tuple[list[sql.Composed], dict[str, str]]:
    """The DDL that lets `table` (columns `existing`: name → type, primary key `keys`) hold records
    of the `wanted` columns, and the columns after it. Added fields are added (nullable); a field
    whose type changed is widened to text (the only change a BACKWARD-compatible subject allows:
    a field becoming masked); columns no longer in the schema stay (written NULL)."""
    ident = sql.Identifier(schema, table)
    wanted_keys = [c.name for c in wanted if c.key]
    if list(keys) != wanted_keys:
        raise SchemaEvolutionError(
            f"table {schema}.{table}",
            "the record key changed",
            expected=f"key ({', '.join(keys)})",
            actual=f"key ({', '.join(wanted_keys)})",
            fix=f"drop {schema}.{table} and its row in {schema}.sharebus_sync_offsets, then re-sync",
        )
    after = dict(existing)
    ddl: list[sql.Composed] = []
    for col in wanted:
        have = after.get(col.name)
        if have is None:
            ddl.append(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    ident, sql.Identifier(col.name), sql.SQL(col.kind.value)
                )
            )
            after[col.name] = col.kind.value
        elif have != col.kind.value and have != Kind.TEXT.value:
            column = sql.Identifier(col.name)
            ddl.append(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE text USING {}::text").format(
                    ident, column, column
                )
            )
            after[col.name] = Kind.TEXT.value
    return ddl, after
