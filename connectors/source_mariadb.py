"""A MariaDB department database as a capture source: preflight and its steps (bus tables),
columns, binlog retention, signals."""

from __future__ import annotations

from typing import Any

from connectors.dbconn import mariadb_connect
from connectors.dburl import DbTarget
from connectors.mariadb_facts import read_mariadb_facts
from connectors.preflight import Preflight, Step
from connectors.preflight_mariadb import account, bus_tables_sql, check_mariadb
from connectors.render import CaptureSpec
from connectors.source import Column, Retention

_COLUMNS_SQL = """
SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE = 'YES', COLUMN_KEY = 'PRI', COLUMN_COMMENT
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION
"""


def _quoted(qualified: str) -> str:
    return ".".join(f"`{part}`" for part in qualified.split("."))


class MariaDbSource:
    """MariaDB, reached as the user Debezium will connect as."""

    kind = "mariadb"

    def __init__(self, target: DbTarget) -> None:
        self.target = target

    def _exec(self, *statements: str, params: Any = None) -> None:
        with mariadb_connect(self.target) as conn, conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt, params)

    def preflight(
        self, spec: CaptureSpec, *, connector_exists: bool, history_topic_exists: bool
    ) -> Preflight:
        with mariadb_connect(self.target) as conn:
            facts = read_mariadb_facts(conn, spec)
        checks, create_bus = check_mariadb(
            facts, spec, connector_exists=connector_exists, history_topic_exists=history_topic_exists
        )
        pre = Preflight(self.target.where(), checks)
        if create_bus:
            missing = [t.name for t in facts.bus_tables if not t.exists]
            # CREATE TABLE only: the user that can create them owns what it needs.
            ddl = [s for s in bus_tables_sql(spec, account(facts)).splitlines() if s.startswith("CREATE")]
            pre.steps.append(
                Step(
                    f"create the bus tables {', '.join(missing)}",
                    lambda: self._exec(*ddl),
                    lambda: self._exec(*(f"DROP TABLE IF EXISTS {_quoted(t)}" for t in missing)),
                )
            )
        return pre

    def columns(self, tables: tuple[str, ...]) -> dict[str, tuple[Column, ...]]:
        out: dict[str, tuple[Column, ...]] = {}
        with mariadb_connect(self.target) as conn, conn.cursor() as cur:
            for table in tables:
                cur.execute(_COLUMNS_SQL, tuple(table.split(".", 1)))
                out[table] = tuple(
                    Column(str(r[0]), str(r[1]).lower(), bool(r[2]), bool(r[3]), str(r[4] or ""))
                    for r in cur.fetchall()
                )
        return out

    def retention(self, spec: CaptureSpec) -> Retention | None:
        """The binary logs the server keeps (shared by every reader of this server)."""
        with mariadb_connect(self.target) as conn, conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            logs = cur.fetchall()
        total = sum(int(r[1]) for r in logs)
        return Retention(
            "binlog",
            logs[-1][0] if logs else "-",
            None,
            total,
            None,
            f"{len(logs)} binlog file(s) kept by the server",
        )

    def drop_capture_state(self, spec: CaptureSpec) -> list[str]:
        return []  # a binlog reader leaves nothing in the database (its history is a Kafka topic)

    def send_signal(self, spec: CaptureSpec, signal_id: str, signal_type: str, data: str) -> None:
        self._exec(
            f"INSERT INTO {_quoted(spec.signal_table)} (id, type, data) VALUES (%s, %s, %s)",
            params=(signal_id, signal_type, data),
        )
