"""The offsets table: per subscriber-topic partition, the next offset to read, written in the
same transaction as the rows it accounts for (so a crash neither loses nor repeats a change)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from sharebus.apps.district.naming import OFFSETS_TABLE

TopicPartitionKey = tuple[str, int]


def create_offsets_table(schema: str) -> sql.Composed:
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (topic text NOT NULL, partition integer NOT NULL,"
        " next_offset bigint NOT NULL, records bigint NOT NULL DEFAULT 0,"
        " updated_at timestamp with time zone NOT NULL, PRIMARY KEY (topic, partition))"
    ).format(sql.Identifier(schema, OFFSETS_TABLE))


def read_offsets(conn: psycopg.Connection[Any], schema: str) -> dict[TopicPartitionKey, int]:
    """The next offset to read of every partition the target has consumed from."""
    rows = conn.execute(
        sql.SQL("SELECT topic, partition, next_offset FROM {}").format(sql.Identifier(schema, OFFSETS_TABLE))
    ).fetchall()
    return {(str(t), int(p)): int(o) for t, p, o in rows}


def save_offsets(
    cur: psycopg.Cursor[Any],
    schema: str,
    offsets: Mapping[TopicPartitionKey, int],
    records: Mapping[TopicPartitionKey, int],
    now: datetime,
) -> None:
    """Upsert the next offsets (inside the caller's transaction); `records` counts what each
    partition contributed, for `sharebus district status`-like reading."""
    stmt = sql.SQL(
        "INSERT INTO {} AS o (topic, partition, next_offset, records, updated_at) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset,"
        " records = o.records + EXCLUDED.records, updated_at = EXCLUDED.updated_at"
    ).format(sql.Identifier(schema, OFFSETS_TABLE))
    cur.executemany(stmt, [(t, p, o, records.get((t, p), 0), now) for (t, p), o in offsets.items()])
