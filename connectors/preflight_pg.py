"""PostgreSQL preflight, as pure functions of the facts read from the database: logical WAL, the
replication privilege, tables with keys and grants, free slots and senders, slot and publication."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.pg_facts import PgFacts, PgTable
from connectors.preflight import Check, fail, ok, warn
from connectors.render import CaptureSpec

CREATE = "create"
UPDATE = "update"
KEEP = "keep"


@dataclass(frozen=True)
class PgPlan:
    """What onboarding will do on the database once every check passes."""

    create_bus_tables: bool
    publication: str  # create | update | keep
    slot_exists: bool


def q(name: str) -> str:
    """A schema-qualified name as SQL, each part double-quoted (for the fixes we print)."""
    return ".".join(f'"{part}"' for part in name.split("."))


def bus_tables_sql(spec: CaptureSpec, user: str) -> str:
    """DDL of the signal and heartbeat tables, and the grants the capture user needs on them."""
    schema = spec.signal_table.partition(".")[0]
    return "\n".join(
        [
            f'CREATE SCHEMA IF NOT EXISTS "{schema}";',
            f"CREATE TABLE IF NOT EXISTS {q(spec.signal_table)} (id varchar(64) PRIMARY KEY,"
            " type varchar(32) NOT NULL, data varchar(4096));",
            f"CREATE TABLE IF NOT EXISTS {q(spec.heartbeat_table)}"
            " (id int PRIMARY KEY, ts timestamptz NOT NULL);",
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{user}";',
            f'GRANT SELECT, INSERT ON {q(spec.signal_table)} TO "{user}";',
            f'GRANT SELECT, INSERT, UPDATE ON {q(spec.heartbeat_table)} TO "{user}";',
        ]
    )


def publication_tables(spec: CaptureSpec) -> tuple[str, ...]:
    return tuple(sorted(dict.fromkeys((*spec.tables, *spec.bus_tables))))


def check_pg(facts: PgFacts, spec: CaptureSpec, *, connector_exists: bool) -> tuple[list[Check], PgPlan]:
    """Every PostgreSQL check, and the plan that follows from them."""
    checks = [_wal_level(facts), _replication(facts)]
    for table in facts.tables:
        checks.extend(_table_checks(table, facts.user))
    bus_checks, create_bus = _bus_tables(facts, spec)
    checks.extend(bus_checks)
    checks.extend(_capacity(facts))
    checks.append(_slot(facts, spec, connector_exists=connector_exists))
    pub_check, publication = _publication(
        facts, spec, connector_exists=connector_exists, create_bus=create_bus
    )
    checks.append(pub_check)
    return checks, PgPlan(create_bus, publication, facts.slot is not None)


def _wal_level(facts: PgFacts) -> Check:
    if facts.wal_level == "logical":
        return ok("wal_level", "logical", "logical")
    return fail(
        "wal_level",
        facts.wal_level,
        "logical (Debezium decodes the WAL with pgoutput)",
        "ALTER SYSTEM SET wal_level = logical;  -- as a superuser, then restart PostgreSQL"
        " (or set wal_level = logical in postgresql.conf)",
    )


def _replication(facts: PgFacts) -> Check:
    name = f"replication privilege of {facts.user}"
    if facts.replication:
        return ok(name, "superuser" if facts.superuser else "REPLICATION", "REPLICATION")
    return fail(
        name,
        "no REPLICATION attribute",
        "REPLICATION (to stream from a replication slot)",
        f'ALTER ROLE "{facts.user}" WITH REPLICATION;  -- as a superuser',
    )


def _table_checks(t: PgTable, user: str) -> list[Check]:
    schema = t.name.partition(".")[0]
    if not t.exists:
        return [
            fail(
                f"table {t.name}",
                "no such table" + ("" if t.schema_usage else f" (or no USAGE on schema {schema})"),
                "an existing table",
                "create it, or correct --tables (names are schema.table, e.g. public.enterprise)",
            )
        ]
    checks: list[Check] = []
    grants = []
    if not t.schema_usage:
        grants.append(f'GRANT USAGE ON SCHEMA "{schema}" TO "{user}";')
    if not t.can_select:
        grants.append(f'GRANT SELECT ON {q(t.name)} TO "{user}";')
    if grants:
        checks.append(
            fail(
                f"read access to {t.name}",
                "not granted to " + user,
                "USAGE on the schema and SELECT on the table (initial and incremental snapshots)",
                "\n".join(grants),
            )
        )
    else:
        checks.append(ok(f"read access to {t.name}", "SELECT", "SELECT"))
    checks.append(_key(t))
    return checks


def _key(t: PgTable) -> Check:
    name = f"primary key of {t.name}"
    if t.has_pk and t.replica_identity == "f":
        return ok(name, "primary key, REPLICA IDENTITY FULL", "a primary key")
    if t.has_pk:
        return warn(
            name,
            "primary key, REPLICA IDENTITY DEFAULT",
            "REPLICA IDENTITY FULL for full before-images",
            f"ALTER TABLE {q(t.name)} REPLICA IDENTITY FULL;  -- updates then carry the old row"
            " (a row moving district leaves the old district's copy)",
        )
    if t.replica_identity == "f":
        return warn(
            name,
            "no primary key, REPLICA IDENTITY FULL",
            "a primary key (change events are keyed by it)",
            f"ALTER TABLE {q(t.name)} ADD PRIMARY KEY (<key columns>);  -- else events carry no key",
        )
    return fail(
        name,
        "no primary key and REPLICA IDENTITY "
        + {"d": "DEFAULT", "n": "NOTHING", "i": "USING INDEX"}.get(t.replica_identity, t.replica_identity),
        "a primary key (or REPLICA IDENTITY FULL): without one PostgreSQL cannot publish updates and deletes",
        f"ALTER TABLE {q(t.name)} ADD PRIMARY KEY (<key columns>);\n"
        f"-- or, without a natural key: ALTER TABLE {q(t.name)} REPLICA IDENTITY FULL;",
    )


def _bus_tables(facts: PgFacts, spec: CaptureSpec) -> tuple[list[Check], bool]:
    """The signal and heartbeat tables: present with rights, or creatable by this user."""
    name = f"bus tables {', '.join(spec.bus_tables)}"
    missing = [t.name for t in facts.bus_tables if not t.exists]
    if missing:
        if facts.superuser or facts.can_create_in_db:
            return [ok(name, "missing: " + ", ".join(missing), "present (created by sharebus now)")], True
        return [
            fail(
                name,
                "missing: " + ", ".join(missing),
                "the signal and heartbeat tables, and CREATE on the database to make them",
                "as the database owner:\n" + bus_tables_sql(spec, facts.user),
            )
        ], False
    signal, heartbeat = facts.bus_tables
    grants = []
    if not (signal.schema_usage and heartbeat.schema_usage):
        grants.append(f'GRANT USAGE ON SCHEMA "{signal.name.partition(".")[0]}" TO "{facts.user}";')
    if not (signal.can_select and signal.can_insert):
        grants.append(f'GRANT SELECT, INSERT ON {q(signal.name)} TO "{facts.user}";')
    if not (heartbeat.can_insert and heartbeat.can_update):
        grants.append(f'GRANT SELECT, INSERT, UPDATE ON {q(heartbeat.name)} TO "{facts.user}";')
    if grants:
        return [
            fail(
                name,
                "present, rights missing for " + facts.user,
                "INSERT on the signal table (snapshot watermarks), INSERT and UPDATE on the heartbeat",
                "\n".join(grants),
            )
        ], False
    return [ok(name, "present, writable", "present, writable")], False


def _capacity(facts: PgFacts) -> list[Check]:
    if facts.slot is not None:  # our slot exists: no new slot; its sender is counted already
        return [
            ok(
                "replication slots",
                f"{facts.used_slots}/{facts.max_replication_slots} used, ours exists",
                "ours, or one free",
            )
        ]
    checks = []
    free = facts.max_replication_slots - facts.used_slots
    name = "free replication slots"
    if free >= 1:
        checks.append(ok(name, f"{free} of {facts.max_replication_slots}", "at least 1"))
    else:
        checks.append(
            fail(
                name,
                f"all {facts.max_replication_slots} in use",
                "at least 1 free",
                f"ALTER SYSTEM SET max_replication_slots = {facts.max_replication_slots + 10};"
                "  -- then restart PostgreSQL; or drop unused slots"
                " (SELECT slot_name, active FROM pg_replication_slots)",
            )
        )
    senders = facts.max_wal_senders - facts.active_senders
    name = "free WAL senders"
    if senders >= 1:
        checks.append(ok(name, f"{senders} of {facts.max_wal_senders}", "at least 1"))
    else:
        checks.append(
            fail(
                name,
                f"all {facts.max_wal_senders} in use",
                "at least 1 free",
                f"ALTER SYSTEM SET max_wal_senders = {facts.max_wal_senders + 10};"
                "  -- then restart PostgreSQL",
            )
        )
    return checks


def _slot(facts: PgFacts, spec: CaptureSpec, *, connector_exists: bool) -> Check:
    name = f"replication slot {spec.slot_name}"
    slot = facts.slot
    if slot is None:
        return ok(name, "none", "none yet (Debezium creates it on first start)")
    drop = f"SELECT pg_drop_replication_slot('{spec.slot_name}');"
    if slot.plugin != "pgoutput" or slot.database != spec.db_name:
        return fail(
            name,
            f"exists for plugin {slot.plugin} in database {slot.database}",
            f"no slot of that name, or a pgoutput slot in {spec.db_name}",
            f"{drop}  -- in database {slot.database}, if nothing else uses it",
        )
    retained = "?" if slot.retained_bytes is None else f"{slot.retained_bytes} bytes of WAL"
    if connector_exists:
        return ok(
            name,
            f"exists ({'active' if slot.active else 'inactive'}, retains {retained})",
            f"the slot of {spec.connector_name}",
        )
    return fail(
        name,
        f"left over from an earlier connector ({'active' if slot.active else 'inactive'},"
        f" retains {retained})",
        f"no slot until {spec.connector_name} creates it",
        f"{drop}  -- or, to resume from it, re-register the old connector",
    )


def _publication(
    facts: PgFacts, spec: CaptureSpec, *, connector_exists: bool, create_bus: bool
) -> tuple[Check, str]:
    name = f"publication {spec.publication_name}"
    wanted = publication_tables(spec)
    table_list = ", ".join(q(t) for t in wanted)
    create_sql = f'CREATE PUBLICATION "{spec.publication_name}" FOR TABLE {table_list};'
    owns_all = facts.superuser or (
        all(t.owned for t in facts.tables if t.exists)
        and (create_bus or all(t.owned for t in facts.bus_tables if t.exists))
    )
    if not facts.publication_exists:
        if owns_all and (facts.superuser or facts.can_create_in_db):
            return ok(
                name, "none", "a publication of exactly the captured tables (created by sharebus now)"
            ), CREATE
        owners = sorted({t.owner for t in (*facts.tables, *facts.bus_tables) if t.owner and not t.owned})
        return fail(
            name,
            f"none, and {facts.user} may not create it (not the owner of the tables"
            + (f"; owned by {', '.join(owners)}" if owners else "")
            + ")",
            "a publication of exactly the captured tables"
            " (Debezium's user then needs only REPLICATION and SELECT)",
            f"as the owner of the tables, then re-run: {create_sql}\n"
            "-- or onboard with the owner's user in --db",
        ), KEEP
    have = (
        "ALL TABLES" if facts.publication_all_tables else ", ".join(facts.publication_tables) or "no tables"
    )
    if not facts.publication_all_tables and tuple(sorted(facts.publication_tables)) == wanted:
        return ok(name, f"exists for {have}", "exactly the captured tables"), KEEP
    alter_sql = f'ALTER PUBLICATION "{spec.publication_name}" SET TABLE {table_list};'
    if not connector_exists:
        return fail(
            name,
            f"exists for {have} (not from this onboarding)",
            f"exactly {', '.join(wanted)}",
            f'DROP PUBLICATION "{spec.publication_name}";  -- if nothing else uses it; or: {alter_sql}',
        ), KEEP
    if facts.publication_all_tables or not (facts.publication_owned and owns_all):
        return fail(
            name,
            f"exists for {have}",
            f"exactly {', '.join(wanted)}",
            f"as the owner of the publication and tables: {alter_sql}",
        ), KEEP
    return ok(name, f"exists for {have}", f"exactly {', '.join(wanted)} (updated by sharebus now)"), UPDATE
