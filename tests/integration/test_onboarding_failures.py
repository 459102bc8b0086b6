"""Every way `sharebus connectors add` can be refused gives its own message and exit code, and
leaves no slot, publication, bus tables, connector, secret or topic behind — including a failure
after the connector was created, which is rolled back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from connectors.client import ConnectClient
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings
from sharebus.testing.ports import free_port

pytestmark = pytest.mark.integration

Cli = Callable[..., Any]


def one(dsn: str, query: str, *args: object) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query, args).fetchone()
        return None if row is None else row[0]


def assert_nothing_left(settings: Settings, db: dict[str, str]) -> None:
    dept, dsn = db["dept"], db["admin_dsn"]
    assert ConnectClient.of(settings).status(f"cdc-{dept}") is None
    assert one(dsn, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", f"sharebus_{dept}") is None
    assert one(dsn, "SELECT 1 FROM pg_publication WHERE pubname = %s", f"sharebus_{dept}") is None
    assert one(dsn, "SELECT 1 FROM pg_namespace WHERE nspname = 'sharebus'") is None  # no bus tables
    assert not (settings.secrets_dir / f"cdc-{dept}.db-password").exists()
    assert not list(settings.secrets_dir.glob(".validate-*"))
    topics = admin_client(kafka_config(settings)).list_topics(timeout=10).topics
    assert not [t for t in topics if f".{dept}" in t]


def add(
    cli: Cli, db: dict[str, str], *extra: str, url: str | None = None, env: dict[str, str] | None = None
) -> Any:
    return cli(
        "connectors",
        "add",
        db["dept"],
        "--db",
        url or db["url"],
        "--tables",
        "person",
        "--no-catalog",
        *extra,
        env=env,
    )


def test_wal_level_replica(
    stack_settings: Settings, sharebus_cli: Cli, throwaway_pg: dict[str, Any], onboard_db: dict[str, str]
) -> None:
    dsn = str(throwaway_pg["dsn"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.person (id bigint PRIMARY KEY, name text)")
    url = f"postgresql://sharebus:{throwaway_pg['password']}@127.0.0.1:{throwaway_pg['port']}/postgres"
    result = add(sharebus_cli, onboard_db, "--json", url=url)
    assert result.exit_code == 8
    assert "wal_level: found replica; needs logical" in result.stderr
    assert "ALTER SYSTEM SET wal_level = logical;" in result.stderr and "restart PostgreSQL" in result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["error"] == "PreflightError"
    assert {c["check"]: c["status"] for c in report["checks"]}["wal_level"] == "fail"
    assert str(throwaway_pg["password"]) not in result.stderr + result.stdout
    assert one(dsn, "SELECT count(*) FROM pg_publication") == 0
    assert one(dsn, "SELECT 1 FROM pg_namespace WHERE nspname = 'sharebus'") is None
    assert_nothing_left(stack_settings, onboard_db)


def test_missing_grants(stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]) -> None:
    role, password = f"{onboard_db['role']}_ro", "ro-password-1"
    with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
    try:
        url = f"postgresql://{role}:{password}@127.0.0.1:{stack_settings.pg_port}/{onboard_db['db']}"
        result = add(sharebus_cli, onboard_db, url=url)
        assert result.exit_code == 8
        err = result.stderr
        assert f"replication privilege of {role}: found no REPLICATION attribute" in err
        assert f'ALTER ROLE "{role}" WITH REPLICATION;' in err
        assert f'GRANT SELECT ON "public"."person" TO "{role}";' in err
        assert 'CREATE PUBLICATION "sharebus_' in err and f"owned by {onboard_db['role']}" in err
        assert_nothing_left(stack_settings, onboard_db)
    finally:
        with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP ROLE "{role}"')


def test_table_without_primary_key(
    stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]
) -> None:
    with psycopg.connect(onboard_db["owner_dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE public.nokey (a int, b text)")
    result = sharebus_cli(
        "connectors",
        "add",
        onboard_db["dept"],
        "--db",
        onboard_db["url"],
        "--tables",
        "person,nokey",
        "--no-catalog",
    )
    assert result.exit_code == 8
    assert "primary key of public.nokey: found no primary key and REPLICA IDENTITY DEFAULT" in result.stderr
    assert 'ALTER TABLE "public"."nokey" ADD PRIMARY KEY' in result.stderr
    assert 'ALTER TABLE "public"."nokey" REPLICA IDENTITY FULL;' in result.stderr
    assert "primary key of public.person" not in result.stderr  # only failures are detailed
    assert_nothing_left(stack_settings, onboard_db)


def test_slot_conflict(stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]) -> None:
    slot = f"sharebus_{onboard_db['dept']}"
    one(onboard_db["admin_dsn"], "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", slot)
    result = add(sharebus_cli, onboard_db)
    assert result.exit_code == 8
    assert f"replication slot {slot}: found left over from an earlier connector (inactive" in result.stderr
    assert f"SELECT pg_drop_replication_slot('{slot}');" in result.stderr
    # The slot was not ours to drop: it stays; nothing else was created.
    assert one(onboard_db["admin_dsn"], "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", slot) == 1
    one(onboard_db["admin_dsn"], "SELECT pg_drop_replication_slot(%s)", slot)
    assert_nothing_left(stack_settings, onboard_db)


def test_unreachable_database(
    stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]
) -> None:
    url = f"postgresql://{onboard_db['role']}:{onboard_db['password']}@127.0.0.1:{free_port()}/{onboard_db['db']}"
    result = add(sharebus_cli, onboard_db, url=url)
    assert result.exit_code == 6
    assert "PostgreSQL does not answer" in result.stderr and "Connection refused" in result.stderr
    assert onboard_db["password"] not in result.stderr
    assert_nothing_left(stack_settings, onboard_db)


def test_wrong_password(stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]) -> None:
    wrong = "not-the-Password-42"
    url = f"postgresql://{onboard_db['role']}:{wrong}@127.0.0.1:{stack_settings.pg_port}/{onboard_db['db']}"
    result = add(sharebus_cli, onboard_db, "--json", url=url)
    assert result.exit_code == 6
    assert f"PostgreSQL refused the password of user '{onboard_db['role']}'" in result.stderr
    assert json.loads(result.stdout)["error"] == "LoginError"
    assert wrong not in result.stderr + result.stdout
    assert_nothing_left(stack_settings, onboard_db)


def test_password_from_the_environment(
    stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]
) -> None:
    url = f"postgresql://{onboard_db['role']}@127.0.0.1:{stack_settings.pg_port}/{onboard_db['db']}"
    missing = add(sharebus_cli, onboard_db, "--dry-run", url=url, env={"SHAREBUS_DB_PASSWORD": ""})
    assert missing.exit_code == 2 and "cannot be prompted for (no terminal)" in missing.stderr
    assert "export SHAREBUS_DB_PASSWORD=" in missing.stderr
    dry = add(
        sharebus_cli, onboard_db, "--dry-run", url=url, env={"SHAREBUS_DB_PASSWORD": onboard_db["password"]}
    )
    assert dry.exit_code == 0, dry.stderr
    assert "would create" in dry.stdout and onboard_db["password"] not in dry.stdout + dry.stderr


def test_connect_down(stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]) -> None:
    result = add(sharebus_cli, onboard_db, env={"SHAREBUS_CONNECT_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.exit_code == 6
    assert "Kafka Connect at http://127.0.0.1:" in result.stderr and "does not answer" in result.stderr
    assert_nothing_left(stack_settings, onboard_db)


def test_invalid_config_field(
    stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]
) -> None:
    result = add(sharebus_cli, onboard_db, "--set", "heartbeat.interval.ms=soon")
    assert result.exit_code == 7
    assert "Kafka Connect rejected 1 field of the config; nothing was created" in result.stderr
    assert "heartbeat.interval.ms: The 'heartbeat.interval.ms' value is invalid" in result.stderr
    bogus = add(sharebus_cli, onboard_db, "--snapshot-mode", "sometimes")
    assert bogus.exit_code == 7 and "snapshot.mode: The 'snapshot.mode' value is invalid" in bogus.stderr
    assert_nothing_left(stack_settings, onboard_db)


def test_failure_after_the_connector_exists_is_rolled_back(
    stack_settings: Settings, sharebus_cli: Cli, onboard_db: dict[str, str]
) -> None:
    result = add(sharebus_cli, onboard_db, "--timeout", "0")
    assert result.exit_code == 7, result.stderr
    assert "not RUNNING after 0s" in result.stderr
    assert f"rolled back: connector cdc-{onboard_db['dept']}" in result.stderr
    for what in ("replication slot", "publication", "bus tables", "secret"):
        assert what in result.stderr.split("rolled back:", 1)[1]
    assert_nothing_left(stack_settings, onboard_db)
