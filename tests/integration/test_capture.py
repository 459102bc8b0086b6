"""Capture path: committed inserts, updates and deletes in each sample department's tables arrive
as Debezium change events on the department's raw topic, keyed by primary key."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Message
from psycopg import sql

from connectors.render import CaptureSpec
from sharebus.core.settings import Settings
from sharebus.dev.samples.departments import get_department
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.kafka import read_until

pytestmark = pytest.mark.integration


def read_events(
    consumer: Consumer,
    settings: Settings,
    topic: str,
    count: int,
    *,
    key: dict[str, Any],
    timeout: float = 60.0,
) -> list[tuple[Any, Any]]:
    """Wait for `topic` to exist, then read `count` (key, value) pairs with key `key`, decoded from
    JSON (other writers may change other rows of the same table meanwhile)."""

    def of_the_key(msg: Message) -> tuple[Any, Any] | None:
        if json.loads(msg.key() or b"null") != key:
            return None
        value = msg.value()
        return key, json.loads(value) if value is not None else None

    return read_until(
        consumer,
        settings,
        topic,
        decode=of_the_key,
        until=lambda events: len(events) >= count,
        timeout=timeout,
    )


CASES = {
    # department: (table, primary key, row factory, column updated and its new value)
    "market": ("public.enterprise", "uscc", lambda f: f.enterprise(), ("phone", "13900001111")),
    "realestate": (
        "public.certificate",
        "cert_no",
        lambda f: f.certificate(990_000 + int(time.time()) % 9999),
        ("use", "commercial"),
    ),
}


@pytest.mark.parametrize("dept_id", sorted(CASES))
def test_insert_update_delete_arrive_as_change_events(
    dept_id: str,
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    consumer_factory: Callable[..., Consumer],
) -> None:
    table, pk, make_row, (column, new_value) = CASES[dept_id]
    spec = capture_factory(dept_id)
    row = make_row(RowFactory.for_settings(stack_settings, seed=int(time.time())))
    schema_name, table_name = table.split(".")
    ident = sql.Identifier(schema_name, table_name)
    with psycopg.connect(stack_settings.pg_dsn(get_department(dept_id).database), autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                ident,
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            list(row.values()),
        )
        conn.execute(
            sql.SQL("UPDATE {} SET {} = %s WHERE {} = %s").format(
                ident, sql.Identifier(column), sql.Identifier(pk)
            ),
            (new_value, row[pk]),
        )
        conn.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(ident, sql.Identifier(pk)), (row[pk],))

    # insert, update, delete, then the delete's tombstone: all on one partition, in order.
    events = read_events(consumer_factory(), stack_settings, spec.raw_topic, 4, key={pk: row[pk]})
    assert len(events) == 4
    (_, created), (_, updated), (_, deleted), (_, tombstone) = events
    assert created["op"] == "c" and created["before"] is None
    assert created["after"][pk] == row[pk]
    assert created["source"]["db"] == get_department(dept_id).database
    assert created["source"]["table"] == table_name and created["source"]["lsn"] > 0
    assert updated["op"] == "u"
    # REPLICA IDENTITY FULL: the update carries the whole before-image.
    assert updated["before"][column] == row[column] and updated["after"][column] == new_value
    assert updated["before"]["district_code"] == row["district_code"]
    assert deleted["op"] == "d" and deleted["after"] is None
    assert deleted["before"][pk] == row[pk] and deleted["before"][column] == new_value
    assert tombstone is None
