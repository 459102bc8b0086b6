"""MariaDB preflight, as pure functions of the facts read from the server: binlog on, ROW format,
FULL row images, a server id, the replication grants, tables with keys, and no stale history."""

from __future__ import annotations

from connectors.mariadb_facts import MariaFacts, MariaTable
from connectors.preflight import Check, fail, ok, warn
from connectors.render import MARIADB_HEARTBEAT_TABLE, MARIADB_SIGNAL_TABLE, CaptureSpec

# Global privileges Debezium's MariaDB connector needs (snapshot lock, binlog stream, positions).
# MariaDB 10.5+ names REPLICATION CLIENT "BINLOG MONITOR"; either spelling satisfies the check.
REQUIRED_GLOBAL = ("RELOAD", "SHOW DATABASES", "REPLICATION SLAVE", "BINLOG MONITOR")
_ALIASES = {
    "BINLOG MONITOR": {"BINLOG MONITOR", "REPLICATION CLIENT", "SUPER"},
    "REPLICATION SLAVE": {"REPLICATION SLAVE", "REPLICATION REPLICA"},
}
_CNF = "in the server's my.cnf ([mariadbd] section), then restart MariaDB"


def account(facts: MariaFacts) -> str:
    user, _, host = facts.user.rpartition("@")
    return f"'{user}'@'{host}'"


def bus_tables_sql(spec: CaptureSpec, user: str) -> str:
    """DDL of the signal and heartbeat tables in the department's database, and the grants."""
    db = f"`{spec.db_name}`"
    return "\n".join(
        [
            f"CREATE TABLE IF NOT EXISTS {db}.`{MARIADB_SIGNAL_TABLE}` (id VARCHAR(64) PRIMARY KEY,"
            " type VARCHAR(32) NOT NULL, data VARCHAR(4096)) ENGINE=InnoDB;",
            f"CREATE TABLE IF NOT EXISTS {db}.`{MARIADB_HEARTBEAT_TABLE}` (id INT PRIMARY KEY,"
            " ts DATETIME(6) NOT NULL) ENGINE=InnoDB;",
            f"GRANT SELECT, INSERT ON {db}.`{MARIADB_SIGNAL_TABLE}` TO {user};",
            f"GRANT SELECT, INSERT, UPDATE ON {db}.`{MARIADB_HEARTBEAT_TABLE}` TO {user};",
        ]
    )


def check_mariadb(
    facts: MariaFacts, spec: CaptureSpec, *, connector_exists: bool, history_topic_exists: bool
) -> tuple[list[Check], bool]:
    """Every MariaDB check, and whether onboarding creates the bus tables."""
    checks = [*_binlog(facts), _server_id(facts, spec), _grants(facts)]
    for table in facts.tables:
        checks.extend(_table(table, facts))
    bus_check, create_bus = _bus_tables(facts, spec)
    checks.append(bus_check)
    checks.append(_history(spec, connector_exists=connector_exists, exists=history_topic_exists))
    return checks, create_bus


def _binlog(f: MariaFacts) -> list[Check]:
    checks = []
    if f.log_bin:
        checks.append(ok("log_bin", "ON", "ON"))
    else:
        checks.append(
            fail("log_bin", "OFF", "ON (Debezium reads the binary log)", f"log_bin = mariadb-bin  {_CNF}")
        )
    if f.binlog_format == "ROW":
        checks.append(ok("binlog_format", "ROW", "ROW"))
    else:
        checks.append(
            fail(
                "binlog_format",
                f.binlog_format,
                "ROW (row events, not statements)",
                f"SET GLOBAL binlog_format = 'ROW';  -- now; and binlog_format = ROW {_CNF}",
            )
        )
    if f.binlog_row_image == "FULL":
        checks.append(ok("binlog_row_image", "FULL", "FULL"))
    else:
        checks.append(
            fail(
                "binlog_row_image",
                f.binlog_row_image,
                "FULL (whole before- and after-images)",
                f"SET GLOBAL binlog_row_image = 'FULL';  -- now; and binlog_row_image = FULL {_CNF}",
            )
        )
    if f.binlog_expire_seconds == 0:
        checks.append(
            warn(
                "binlog expiry",
                "never (binlog_expire_logs_seconds = 0)",
                "a finite expiry, longer than any connector outage",
                "SET GLOBAL binlog_expire_logs_seconds = 604800;  -- 7 days",
            )
        )
    return checks


def _server_id(f: MariaFacts, spec: CaptureSpec) -> Check:
    if f.server_id == 0:
        return fail(
            "server_id", "0", "a non-zero server id (a binlog source must have one)", f"server_id = 1  {_CNF}"
        )
    if f.server_id == spec.server_id:
        return fail(
            "server_id",
            f"{f.server_id}, the id {spec.connector_name} would use",
            "a server id different from the connector's database.server.id",
            f"--set database.server.id=<another number>, or change server_id {_CNF}",
        )
    return ok("server_id", str(f.server_id), f"non-zero, not {spec.server_id} (the connector's)")


def _has(privileges: frozenset[str], needed: str) -> bool:
    return bool(_ALIASES.get(needed, {needed}) & privileges) or "ALL PRIVILEGES" in privileges


def _grants(f: MariaFacts) -> Check:
    name = f"replication grants of {f.user}"
    missing = [p for p in REQUIRED_GLOBAL if not _has(f.global_privileges, p)]
    if not missing:
        return ok(name, ", ".join(REQUIRED_GLOBAL), ", ".join(REQUIRED_GLOBAL) + " ON *.*")
    return fail(
        name,
        "missing " + ", ".join(missing),
        ", ".join(REQUIRED_GLOBAL) + " ON *.*",
        f"GRANT {', '.join(missing)} ON *.* TO {account(f)};  -- as an admin",
    )


def _table(t: MariaTable, f: MariaFacts) -> list[Check]:
    if not t.exists:
        return [
            fail(
                f"table {t.name}",
                "no such table",
                "an existing table",
                "create it, or correct --tables (names are database.table)",
            )
        ]
    db, _, tbl = t.name.partition(".")
    checks = []
    if _has(t.privileges, "SELECT"):
        checks.append(ok(f"read access to {t.name}", "SELECT", "SELECT"))
    else:
        checks.append(
            fail(
                f"read access to {t.name}",
                "not granted to " + f.user,
                "SELECT (snapshots)",
                f"GRANT SELECT ON `{db}`.`{tbl}` TO {account(f)};",
            )
        )
    if t.has_pk:
        checks.append(ok(f"primary key of {t.name}", "primary key", "a primary key"))
    else:
        checks.append(
            fail(
                f"primary key of {t.name}",
                "none",
                "a primary key (change events are keyed by it)",
                f"ALTER TABLE `{db}`.`{tbl}` ADD PRIMARY KEY (<key columns>);",
            )
        )
    if t.engine and t.engine.upper() != "INNODB":
        checks.append(
            warn(
                f"engine of {t.name}",
                t.engine,
                "InnoDB (consistent snapshots)",
                f"ALTER TABLE `{db}`.`{tbl}` ENGINE=InnoDB;",
            )
        )
    return checks


def _bus_tables(f: MariaFacts, spec: CaptureSpec) -> tuple[Check, bool]:
    name = f"bus tables {', '.join(spec.bus_tables)}"
    missing = [t.name for t in f.bus_tables if not t.exists]
    if missing:
        if _has(f.global_privileges | f.database_privileges, "CREATE"):
            return ok(name, "missing: " + ", ".join(missing), "present (created by sharebus now)"), True
        return fail(
            name,
            "missing: " + ", ".join(missing),
            "the signal and heartbeat tables",
            "as an admin:\n" + bus_tables_sql(spec, account(f)),
        ), False
    signal, heartbeat = f.bus_tables
    if (
        _has(signal.privileges, "INSERT")
        and _has(heartbeat.privileges, "INSERT")
        and _has(heartbeat.privileges, "UPDATE")
    ):
        return ok(name, "present, writable", "present, writable"), False
    grants = bus_tables_sql(spec, account(f)).splitlines()[2:]
    return fail(
        name,
        "present, rights missing for " + f.user,
        "INSERT on the signal table, INSERT and UPDATE on the heartbeat",
        "\n".join(grants),
    ), False


def _history(spec: CaptureSpec, *, connector_exists: bool, exists: bool) -> Check:
    name = f"schema history topic {spec.schema_history_topic}"
    if not exists:
        return ok(name, "none", "none yet (the connector creates it)")
    if connector_exists:
        return ok(name, "exists", f"the history of {spec.connector_name}")
    return fail(
        name,
        "left over from an earlier connector",
        f"no history until {spec.connector_name} starts",
        f"delete the topic if no connector uses it: kafka-topics.sh --bootstrap-server <kafka>"
        f" --delete --topic {spec.schema_history_topic}",
    )
