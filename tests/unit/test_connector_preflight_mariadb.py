"""MariaDB preflight as pure functions: binlog ROW/FULL, server id, replication grants, keys."""

from __future__ import annotations

from dataclasses import replace

from connectors.mariadb_facts import MariaFacts, MariaTable, grantee
from connectors.preflight import FAIL, OK, Check
from connectors.preflight_mariadb import check_mariadb
from connectors.render import CaptureSpec

SPEC = CaptureSpec(
    department="hr",
    db_name="hr",
    tables=("hr.person",),
    db_host="h",
    db_port=3306,
    db_user="cdc",
    kind="mariadb",
)
ALL = frozenset({"SELECT", "RELOAD", "SHOW DATABASES", "REPLICATION SLAVE", "BINLOG MONITOR"})
BUS = (
    MariaTable("hr.sharebus_signal", True, True, "InnoDB", ALL | {"INSERT"}),
    MariaTable("hr.sharebus_heartbeat", True, True, "InnoDB", ALL | {"INSERT", "UPDATE"}),
)
GOOD = MariaFacts(
    version="10.11",
    user="cdc@%",
    log_bin=True,
    binlog_format="ROW",
    binlog_row_image="FULL",
    server_id=1,
    binlog_expire_seconds=86400,
    global_privileges=ALL,
    database_privileges=frozenset(),
    tables=(MariaTable("hr.person", True, True, "InnoDB", ALL),),
    bus_tables=BUS,
)


def run(facts: MariaFacts, *, history: bool = False, exists: bool = False) -> dict[str, Check]:
    checks, _ = check_mariadb(facts, SPEC, connector_exists=exists, history_topic_exists=history)
    return {c.name: c for c in checks}


def failed(facts: MariaFacts, **kw: bool) -> dict[str, Check]:
    return {n: c for n, c in run(facts, **kw).items() if c.status == FAIL}


def test_a_ready_server_passes() -> None:
    assert all(c.status == OK for c in run(GOOD).values())


def test_binlog_settings_each_name_their_fix() -> None:
    fails = failed(replace(GOOD, log_bin=False, binlog_format="STATEMENT", binlog_row_image="MINIMAL"))
    assert "log_bin" in (fails["log_bin"].fix or "")
    assert "SET GLOBAL binlog_format = 'ROW'" in (fails["binlog_format"].fix or "")
    assert "SET GLOBAL binlog_row_image = 'FULL'" in (fails["binlog_row_image"].fix or "")


def test_server_id_zero_or_equal_to_the_connectors() -> None:
    assert "server_id" in failed(replace(GOOD, server_id=0))
    assert "database.server.id" in (failed(replace(GOOD, server_id=SPEC.server_id))["server_id"].fix or "")


def test_missing_grants_are_listed_in_one_grant_statement() -> None:
    fails = failed(replace(GOOD, global_privileges=frozenset({"SELECT"})))
    fix = fails["replication grants of cdc@%"].fix or ""
    assert fix.startswith(
        "GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'cdc'@'%'"
    )


def test_replication_client_is_the_old_name_of_binlog_monitor() -> None:
    old = (ALL - {"BINLOG MONITOR"}) | {"REPLICATION CLIENT"}
    assert "replication grants of cdc@%" not in failed(replace(GOOD, global_privileges=old))


def test_tables_without_key_or_select_fail() -> None:
    table = MariaTable("hr.person", True, False, "InnoDB", frozenset())
    fails = failed(replace(GOOD, global_privileges=ALL - {"SELECT"}, tables=(table,)))
    assert "ADD PRIMARY KEY" in (fails["primary key of hr.person"].fix or "")
    assert "GRANT SELECT ON `hr`.`person` TO 'cdc'@'%';" in (fails["read access to hr.person"].fix or "")


def test_a_leftover_schema_history_conflicts() -> None:
    assert "schema history topic sharebus.schema-history.hr" in failed(GOOD, history=True)
    assert not failed(GOOD, history=True, exists=True)


def test_grantee_spelling() -> None:
    assert grantee("cdc@127.0.0.1") == "'cdc'@'127.0.0.1'"
