"""The district database as the sync writes it: one schema per target, a table per resource
evolved from the record schemas, and one transaction per batch holding rows and offsets."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from connectors.dburl import DbTarget
from sharebus.apps.district.columns import META_COLUMNS, Column, Kind, columns_of, create_table, evolve
from sharebus.apps.district.decode import WriterSchema
from sharebus.apps.district.errors import SyncBusyError
from sharebus.apps.district.offsets import TopicPartitionKey, create_offsets_table, read_offsets, save_offsets
from sharebus.apps.district.target import connect_target

_EPOCH = date(1970, 1, 1)

_COLUMNS_SQL = """
SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
WHERE c.table_schema = %s ORDER BY c.table_name, c.ordinal_position
"""
_KEYS_SQL = """
SELECT k.table_name, k.column_name FROM information_schema.table_constraints t
JOIN information_schema.key_column_usage k
  ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name
WHERE t.table_schema = %s AND t.constraint_type = 'PRIMARY KEY'
ORDER BY k.table_name, k.ordinal_position
"""


@dataclass
class TableState:
    """Columns (name → PostgreSQL type, in table order) and primary key of one district table."""

    columns: dict[str, str]
    keys: list[str]
    schema_ids: set[int] = field(default_factory=set)  # record schemas already mapped onto it

    @property
    def data_columns(self) -> list[str]:
        meta = {n for n, _ in META_COLUMNS}
        return [c for c in self.columns if c not in meta]


@dataclass(frozen=True, slots=True)
class Change:
    """The last change of one key within a batch: a record to upsert, or None to delete."""

    table: str
    key: Mapping[str, Any]
    record: Mapping[str, Any] | None
    writer: WriterSchema | None
    offset: int
    policy_version: str | None
    demand_id: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    upserts: int
    deletes: int
    ddl: tuple[str, ...]


def read_tables(conn: psycopg.Connection[Any], schema: str) -> dict[str, TableState]:
    tables: dict[str, TableState] = {}
    for table, column, data_type in conn.execute(_COLUMNS_SQL, (schema,)).fetchall():
        tables.setdefault(str(table), TableState({}, [])).columns[str(column)] = str(data_type)
    for table, column in conn.execute(_KEYS_SQL, (schema,)).fetchall():
        if str(table) in tables:
            tables[str(table)].keys.append(str(column))
    return tables


class DistrictStore:
    """Writes one subscriber's tables in `schema` of the target database. Holds an advisory lock
    on the schema for its life: two syncs into one schema would interleave their offsets."""

    def __init__(self, target: DbTarget, schema: str) -> None:
        self.target = target
        self.schema = schema
        self.conn = self._open()
        self.tables: dict[str, TableState] = {}
        self.offsets: dict[TopicPartitionKey, int] = {}
        self._load()

    def _open(self) -> psycopg.Connection[Any]:
        conn = connect_target(self.target)
        lock = conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"sharebus.district.sync:{self.schema}",)
        ).fetchone()
        if not lock or not lock[0]:
            conn.close()
            raise SyncBusyError(
                f"schema {self.schema} of {self.target.safe_url}",
                "another `sharebus district sync` is writing it",
                expected="one sync per target schema",
                actual="its advisory lock is held",
                fix="stop the other sync (or give this one another --schema)",
            )
        return conn

    def _load(self) -> None:
        self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        self.conn.execute(create_offsets_table(self.schema))
        self.conn.commit()
        self.tables = read_tables(self.conn, self.schema)
        self.offsets = read_offsets(self.conn, self.schema)
        self.conn.commit()

    def reopen(self) -> None:
        """A new connection after the old one broke (a database restart): the lock is taken
        again and tables and offsets are read back — what committed is what counts."""
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
        self.conn = self._open()
        self._load()

    def close(self) -> None:
        self.conn.close()

    def apply(
        self,
        changes: Sequence[Change],
        offsets: Mapping[TopicPartitionKey, int],
        records: Mapping[TopicPartitionKey, int],
    ) -> Applied:
        """Apply one batch and its offsets in one transaction; the in-memory table map follows
        only once it committed."""
        now = datetime.now(UTC)
        tables = {
            name: TableState(dict(t.columns), list(t.keys), set(t.schema_ids))
            for name, t in self.tables.items()
        }
        ddl: list[str] = []
        upserts = deletes = 0
        by_table: dict[str, list[Change]] = {}
        for change in changes:
            by_table.setdefault(change.table, []).append(change)
        with self.conn.transaction(), self.conn.cursor() as cur:
            for table, group in by_table.items():
                for writer in {c.writer.id: c.writer for c in group if c.writer is not None}.values():
                    ddl += self._map_schema(cur, tables, table, writer)
                state = tables.get(table)
                if state is None:  # only deletes for a table never created: nothing to delete
                    continue
                ups = [c for c in group if c.record is not None]
                dels = [c for c in group if c.record is None]
                if ups:
                    cur.executemany(self._upsert(table, state), [self._row(state, c, now) for c in ups])
                    upserts += len(ups)
                if dels:
                    cur.executemany(self._delete(table, state), [self._key(state, c.key) for c in dels])
                    deletes += len(dels)
            save_offsets(cur, self.schema, offsets, records, now)
        self.tables = tables
        self.offsets.update(offsets)
        return Applied(upserts, deletes, tuple(ddl))

    def _map_schema(
        self, cur: psycopg.Cursor[Any], tables: dict[str, TableState], table: str, writer: WriterSchema
    ) -> list[str]:
        state = tables.get(table)
        if state is not None and writer.id in state.schema_ids:
            return []
        wanted: tuple[Column, ...] = columns_of(writer.json, f"schema {writer.id}")
        if state is None:
            stmt = create_table(self.schema, table, wanted)
            cur.execute(stmt)
            columns = {c.name: c.kind.value for c in wanted} | dict(META_COLUMNS)
            tables[table] = TableState(columns, [c.name for c in wanted if c.key], {writer.id})
            return [stmt.as_string(cur)]
        stmts, after = evolve(self.schema, table, state.columns, state.keys, wanted)
        for stmt in stmts:
            cur.execute(stmt)
        state.columns = after
        state.schema_ids.add(writer.id)
        return [s.as_string(cur) for s in stmts]

    def _upsert(self, table: str, state: TableState) -> sql.Composed:
        cols = [*state.data_columns, *(n for n, _ in META_COLUMNS)]
        updates = [c for c in cols if c not in state.keys]
        return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}").format(
            sql.Identifier(self.schema, table),
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)),
            sql.SQL(", ").join(map(sql.Identifier, state.keys)),
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates
            ),
        )

    def _delete(self, table: str, state: TableState) -> sql.Composed:
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in state.keys)
        return sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(self.schema, table), where)

    def _row(self, state: TableState, change: Change, now: datetime) -> list[Any]:
        record = change.record or {}
        values = [to_column(state.columns[c], record.get(c)) for c in state.data_columns]
        return [*values, change.offset, change.policy_version, change.demand_id, now]

    def _key(self, state: TableState, key: Mapping[str, Any]) -> list[Any]:
        return [to_column(state.columns.get(k, Kind.TEXT.value), key.get(k)) for k in state.keys]


def to_column(pg_type: str, value: Any) -> Any:
    """A decoded Avro value (or a key's JSON value) as the column of type `pg_type` takes it."""
    if value is None:
        return None
    if pg_type == Kind.TEXT.value:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return value.isoformat() if isinstance(value, date) else str(value)
    if pg_type == Kind.DATE.value and isinstance(value, int):
        return _EPOCH + timedelta(days=value)  # a date key as Debezium's JSON carries it
    if pg_type == Kind.TIMESTAMPTZ.value and isinstance(value, str):
        return datetime.fromisoformat(value)
    if pg_type == Kind.NUMERIC.value and isinstance(value, str):
        return Decimal(value)
    return value
