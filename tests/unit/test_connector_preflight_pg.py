"""PostgreSQL preflight as pure functions: each failure names what was found, what is needed,
and the SQL or setting that fixes it; the plan says what onboarding will create."""

from __future__ import annotations

from dataclasses import replace

import pytest

from connectors.errors import PreflightError
from connectors.pg_facts import PgFacts, PgSlot, PgTable
from connectors.preflight import FAIL, OK, WARN, Check, Preflight
from connectors.preflight_pg import CREATE, KEEP, UPDATE, check_pg
from connectors.render import CaptureSpec

SPEC = CaptureSpec(
    department="dept", db_name="db", tables=("public.t",), db_host="h", db_port=5432, db_user="cdc"
)
GOOD_TABLE = PgTable("public.t", True, True, "f", True, True, False, False, True, "cdc")
BUS = (
    PgTable("sharebus.debezium_signal", True, True, "d", True, True, True, False, True, "cdc"),
    PgTable("sharebus.heartbeat", True, True, "d", True, True, True, True, True, "cdc"),
)
GOOD = PgFacts(
    version="15",
    user="cdc",
    wal_level="logical",
    superuser=False,
    replication=True,
    can_create_in_db=True,
    max_replication_slots=10,
    used_slots=2,
    max_wal_senders=10,
    active_senders=2,
    tables=(GOOD_TABLE,),
    bus_tables=BUS,
    bus_schema_exists=True,
    slot=None,
    publication_exists=False,
)


def run(facts: PgFacts, *, exists: bool = False) -> tuple[dict[str, Check], str]:
    checks, plan = check_pg(facts, SPEC, connector_exists=exists)
    return {c.name: c for c in checks}, plan.publication


def failed(facts: PgFacts, *, exists: bool = False) -> dict[str, Check]:
    return {n: c for n, c in run(facts, exists=exists)[0].items() if c.status == FAIL}


def test_a_ready_database_passes_and_plans_the_publication() -> None:
    checks, publication = run(GOOD)
    assert all(c.status == OK for c in checks.values()), [c.render() for c in checks.values()]
    assert publication == CREATE


def test_wal_level_names_the_setting_and_the_restart() -> None:
    (check,) = failed(replace(GOOD, wal_level="replica")).values()
    assert check.name == "wal_level" and check.found == "replica"
    assert (
        check.fix is not None
        and "ALTER SYSTEM SET wal_level = logical" in check.fix
        and "restart" in check.fix
    )


def test_missing_grants_give_the_grant_statements() -> None:
    table = replace(GOOD_TABLE, can_select=False, schema_usage=False)
    fails = failed(replace(GOOD, replication=False, tables=(table,)))
    assert 'ALTER ROLE "cdc" WITH REPLICATION;' in (fails["replication privilege of cdc"].fix or "")
    fix = fails["read access to public.t"].fix or ""
    assert (
        'GRANT USAGE ON SCHEMA "public" TO "cdc";' in fix and 'GRANT SELECT ON "public"."t" TO "cdc";' in fix
    )


def test_a_table_without_key_fails_and_offers_both_fixes() -> None:
    fails = failed(replace(GOOD, tables=(replace(GOOD_TABLE, has_pk=False, replica_identity="d"),)))
    fix = fails["primary key of public.t"].fix or ""
    assert "ADD PRIMARY KEY" in fix and "REPLICA IDENTITY FULL" in fix


def test_replica_identity_full_without_key_and_default_identity_are_warnings() -> None:
    checks, _ = run(replace(GOOD, tables=(replace(GOOD_TABLE, has_pk=False),)))
    assert checks["primary key of public.t"].status == WARN
    checks, _ = run(replace(GOOD, tables=(replace(GOOD_TABLE, replica_identity="d"),)))
    assert checks["primary key of public.t"].status == WARN
    assert "REPLICA IDENTITY FULL" in (checks["primary key of public.t"].fix or "")


def test_a_missing_table_is_named() -> None:
    fails = failed(replace(GOOD, tables=(PgTable("public.t", False, schema_usage=True),)))
    assert fails["table public.t"].found == "no such table"


def test_no_free_slot_or_sender() -> None:
    fails = failed(replace(GOOD, used_slots=10, active_senders=10))
    assert "max_replication_slots" in (fails["free replication slots"].fix or "")
    assert "max_wal_senders" in (fails["free WAL senders"].fix or "")


def test_a_leftover_slot_conflicts_unless_our_connector_uses_it() -> None:
    slot = PgSlot("sharebus_dept", "pgoutput", "db", False, 123456)
    fails = failed(replace(GOOD, slot=slot))
    check = fails["replication slot sharebus_dept"]
    assert "123456 bytes" in check.found and "pg_drop_replication_slot('sharebus_dept')" in (check.fix or "")
    published = replace(
        GOOD,
        slot=slot,
        publication_exists=True,
        publication_tables=("public.t", "sharebus.debezium_signal", "sharebus.heartbeat"),
    )
    checks, publication = run(published, exists=True)
    assert checks["replication slot sharebus_dept"].status == OK and publication == KEEP
    other_db = replace(GOOD, slot=replace(slot, database="elsewhere"))
    assert "replication slot sharebus_dept" in failed(other_db, exists=True)


def test_the_publication_needs_the_owner() -> None:
    not_owner = replace(GOOD, tables=(replace(GOOD_TABLE, owned=False, owner="dba"),))
    check = failed(not_owner)["publication sharebus_dept"]
    assert "owned by dba" in check.found
    assert 'CREATE PUBLICATION "sharebus_dept" FOR TABLE "public"."t"' in (check.fix or "")


def test_a_foreign_publication_conflicts_and_ours_is_updated() -> None:
    foreign = replace(
        GOOD, publication_exists=True, publication_tables=("public.other",), publication_owned=True
    )
    assert "DROP PUBLICATION" in (failed(foreign)["publication sharebus_dept"].fix or "")
    _, publication = run(foreign, exists=True)
    assert publication == UPDATE


def test_missing_bus_tables_are_created_when_the_user_may_else_explained() -> None:
    missing = tuple(PgTable(t.name, False, schema_usage=True) for t in BUS)
    checks, plan = check_pg(replace(GOOD, bus_tables=missing), SPEC, connector_exists=False)
    assert plan.create_bus_tables and all(c.status != FAIL for c in checks)
    fails = failed(replace(GOOD, bus_tables=missing, can_create_in_db=False))
    fix = fails["bus tables sharebus.debezium_signal, sharebus.heartbeat"].fix or ""
    assert "CREATE TABLE IF NOT EXISTS" in fix and "GRANT SELECT, INSERT" in fix


def test_a_report_raises_one_error_listing_every_failure() -> None:
    checks, _ = check_pg(replace(GOOD, wal_level="replica", replication=False), SPEC, connector_exists=False)
    report = Preflight("database db at h:5432", checks)
    with pytest.raises(PreflightError) as info:
        report.raise_if_failed()
    text = info.value.render()
    assert "2 preflight checks failed; nothing was created" in text
    assert "wal_level" in text and "ALTER ROLE" in text
    assert info.value.exit_code == 8 and len(info.value.checks) == len(checks)
