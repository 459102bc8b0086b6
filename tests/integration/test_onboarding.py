"""`sharebus connectors add` against the real PostgreSQL, Kafka and Kafka Connect: a department
database onboards to RUNNING and its changes flow, twice is a no-op, a changed config needs --yes,
status shows the slot's retained WAL, `remove --drop-slot` leaves nothing, and `resnapshot --where`
re-emits exactly the selected rows."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Message

from connectors.client import ConnectClient
from sharebus.core import naming
from sharebus.core.settings import Settings
from sharebus.testing.kafka import read_until

pytestmark = pytest.mark.integration

Cli = Callable[..., Any]


def read_topic(
    consumer: Consumer,
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 60.0,
    settle: float = 0.0,
) -> list[tuple[Any, Any]]:
    """(key, value) pairs of `topic` from its start, decoded from JSON, until `until(pairs)` holds
    (then `settle` more seconds, to catch anything extra)."""

    def pair(msg: Message) -> tuple[Any, Any]:
        value = msg.value()
        return json.loads(msg.key() or b"null"), json.loads(value) if value is not None else None

    return read_until(consumer, settings, topic, decode=pair, until=until, timeout=timeout, settle=settle)


def ops(pairs: list[tuple[Any, Any]], op: str) -> list[dict[str, Any]]:
    return [v for _, v in pairs if v is not None and v.get("op") == op]


def exists(dsn: str, query: str, *args: object) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, args).fetchone() is not None


def test_onboarding_runs_changes_flow_twice_is_a_no_op_and_remove_leaves_nothing(
    stack_settings: Settings,
    sharebus_cli: Cli,
    onboard_db: dict[str, str],
    consumer_factory: Callable[..., Consumer],
) -> None:
    dept, db, password = onboard_db["dept"], onboard_db["db"], onboard_db["password"]
    with psycopg.connect(onboard_db["owner_dsn"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO person (id, name, district_code) VALUES (1, '张三', '500101'), (2, '李四', '500102')"
        )
    args = (
        "connectors",
        "add",
        dept,
        "--db",
        onboard_db["url"],
        "--tables",
        "person",
        "--contact",
        "ops@example.gov.cn",
        "--name",
        "测试局",
    )

    dry = sharebus_cli(*args, "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["action"] == "would create"
    assert not exists(
        onboard_db["admin_dsn"], "SELECT 1 FROM pg_publication WHERE pubname = %s", f"sharebus_{dept}"
    )

    t0 = time.monotonic()
    first = sharebus_cli(*args, "--json")
    took = time.monotonic() - t0
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    print(f"onboarding {dept}: {took:.1f}s end to end, {report['seconds_to_running']}s to RUNNING")
    assert report["action"] == "created" and report["state"] == "RUNNING" and report["tasks"] == ["RUNNING"]
    assert report["snapshot"]["status"] == "COMPLETED" and report["snapshot"]["rows"] == {"public.person": 2}
    assert report["catalog"]["drafted"] == [f"{dept}.person"] and report["catalog"]["department_added"]
    assert any("create the bus tables" in s for s in report["steps"])
    for text in (first.stdout, first.stderr, dry.stdout, dry.stderr):
        assert password not in text
    config = ConnectClient.of(stack_settings).config(f"cdc-{dept}") or {}
    assert password not in json.dumps(config) and config["database.password"].startswith("${dir:")

    # Changes flow: snapshot rows, then an insert, update and delete with full before-images.
    with psycopg.connect(onboard_db["owner_dsn"], autocommit=True) as conn:
        conn.execute("INSERT INTO person (id, name, district_code) VALUES (3, '王五', '500103')")
        conn.execute("UPDATE person SET district_code = '500104' WHERE id = 3")
        conn.execute("DELETE FROM person WHERE id = 3")
    pairs = read_topic(
        consumer_factory(),
        stack_settings,
        naming.raw_topic(f"cdc.{dept}"),
        until=lambda ps: ({"id": 3}, None) in ps and len(ops(ps, "r")) == 2,
    )
    assert sorted(v["after"]["id"] for v in ops(pairs, "r")) == [1, 2]
    (created,), (updated,), (deleted,) = ops(pairs, "c"), ops(pairs, "u"), ops(pairs, "d")
    assert created["after"]["district_code"] == "500103"
    assert (updated["before"]["district_code"], updated["after"]["district_code"]) == ("500103", "500104")
    assert deleted["before"]["id"] == 3  # then its tombstone (the condition read up to)

    again = sharebus_cli(*args, "--json")
    assert again.exit_code == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["action"], second["steps"], second["diff"]) == ("unchanged", [], [])
    assert second["catalog"]["drafted"] == [] and second["catalog"]["existing"] == [f"{dept}.person"]

    status = sharebus_cli("connectors", "status", f"cdc-{dept}", "--json")
    assert status.exit_code == 0, status.stderr
    retention = json.loads(status.stdout)["retention"]
    assert retention["kind"] == "replication slot" and retention["active"] is True
    assert retention["retained_bytes"] >= 0 and retention["lag_bytes"] is not None
    warned = sharebus_cli("connectors", "status", f"cdc-{dept}", "--warn-bytes", "0")
    assert warned.exit_code == 10 and "warning: more than" in warned.stdout

    changed = sharebus_cli(*args, "--set", "heartbeat.interval.ms=5000")
    assert changed.exit_code == 9 and "heartbeat.interval.ms: 10000 -> 5000" in changed.stderr
    assert (ConnectClient.of(stack_settings).config(f"cdc-{dept}") or {})["heartbeat.interval.ms"] == "10000"
    applied = sharebus_cli(*args, "--set", "heartbeat.interval.ms=5000", "--yes", "--json")
    assert applied.exit_code == 0 and json.loads(applied.stdout)["action"] == "updated"

    removed = sharebus_cli("connectors", "remove", f"cdc-{dept}", "--drop-slot")
    assert removed.exit_code == 0, removed.stderr
    assert ConnectClient.of(stack_settings).status(f"cdc-{dept}") is None
    assert not exists(
        onboard_db["admin_dsn"], "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", f"sharebus_{dept}"
    )
    assert not exists(
        onboard_db["admin_dsn"], "SELECT 1 FROM pg_publication WHERE pubname = %s", f"sharebus_{dept}"
    )
    assert not (stack_settings.secrets_dir / f"cdc-{dept}.db-password").exists()
    assert db in removed.stderr or "dropped replication slot" in removed.stderr


def test_resnapshot_where_reemits_exactly_the_selected_rows(
    stack_settings: Settings,
    sharebus_cli: Cli,
    onboard_db: dict[str, str],
    consumer_factory: Callable[..., Consumer],
) -> None:
    dept = onboard_db["dept"]
    districts = {"500101": 5, "500102": 4, "500103": 3}
    rows = [
        (i, f"p{i}", code)
        for i, code in enumerate((c for c, n in districts.items() for _ in range(n)), start=1)
    ]
    with psycopg.connect(onboard_db["owner_dsn"], autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO person (id, name, district_code) VALUES (%s, %s, %s)", rows)
    added = sharebus_cli(
        "connectors",
        "add",
        dept,
        "--db",
        onboard_db["url"],
        "--tables",
        "public.person",
        "--snapshot-mode",
        "no_data",
        "--no-catalog",
    )
    assert added.exit_code == 0, added.stderr

    t0 = time.monotonic()
    result = sharebus_cli(
        "connectors", "resnapshot", f"cdc-{dept}", "person", "--where", "district_code = '500102'", "--json"
    )
    took = time.monotonic() - t0
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    print(f"resnapshot of {dept}: {took:.1f}s end to end, {summary['seconds']}s from signal to COMPLETED")
    assert summary["status"] == "COMPLETED" and summary["rows"] == {"public.person": 4}
    assert "in progress" in result.stderr or "rows scanned" in result.stderr

    expected = sorted(i for i, _, code in rows if code == "500102")
    pairs = read_topic(
        consumer_factory(),
        stack_settings,
        naming.raw_topic(f"cdc.{dept}"),
        until=lambda ps: len(ops(ps, "r")) >= len(expected),
        settle=3.0,
    )
    reads = ops(pairs, "r")
    assert sorted(v["after"]["id"] for v in reads) == expected
    assert {v["after"]["district_code"] for v in reads} == {"500102"}
    assert len(pairs) == len(reads)  # nothing else was emitted
