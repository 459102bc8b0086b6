"""A PostgreSQL department database as a capture source: preflight and its steps (bus tables,
publication, slot clean-up), columns, slot retention, signals and clean-up."""

from __future__ import annotations

from psycopg import sql

from connectors import slots
from connectors.dbconn import pg_connect
from connectors.dburl import DbTarget
from connectors.pg_facts import read_pg_facts
from connectors.preflight import Preflight, Step
from connectors.preflight_pg import CREATE, UPDATE, bus_tables_sql, check_pg, publication_tables
from connectors.render import CaptureSpec
from connectors.source import Column, Retention

_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, NULL), NOT a.attnotnull,
       COALESCE(a.attnum = ANY (i.indkey), false), COALESCE(col_description(c.oid, a.attnum), '')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = %s AND c.relname = %s
ORDER BY a.attnum
"""


def _ident(qualified: str) -> sql.Identifier:
    schema, _, table = qualified.partition(".")
    return sql.Identifier(schema, table)


class PgSource:
    """PostgreSQL, reached as the user Debezium will connect as."""

    kind = "postgres"

    def __init__(self, target: DbTarget) -> None:
        self.target = target

    def _exec(self, *statements: sql.Composed | str) -> None:
        with pg_connect(self.target) as conn:
            for stmt in statements:
                conn.execute(stmt.encode() if isinstance(stmt, str) else stmt)

    def preflight(
        self, spec: CaptureSpec, *, connector_exists: bool, history_topic_exists: bool
    ) -> Preflight:
        with pg_connect(self.target) as conn:
            facts = read_pg_facts(conn, spec)
        checks, plan = check_pg(facts, spec, connector_exists=connector_exists)
        pre = Preflight(self.target.where(), checks)
        if plan.create_bus_tables:
            schema_existed = facts.bus_schema_exists
            missing = [t.name for t in facts.bus_tables if not t.exists]
            pre.steps.append(
                Step(
                    f"create the bus tables {', '.join(missing)}",
                    lambda: self._exec(bus_tables_sql(spec, facts.user)),
                    lambda: self._drop_bus_tables(missing, None if schema_existed else spec.signal_table),
                )
            )
        pub = sql.Identifier(spec.publication_name)
        wanted = sql.SQL(", ").join(_ident(t) for t in publication_tables(spec))
        if plan.publication == CREATE:
            pre.steps.append(
                Step(
                    f"create publication {spec.publication_name} for {', '.join(publication_tables(spec))}",
                    lambda: self._exec(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(pub, wanted)),
                    lambda: self._exec(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(pub)),
                )
            )
        elif plan.publication == UPDATE:
            before = sql.SQL(", ").join(_ident(t) for t in facts.publication_tables)
            pre.steps.append(
                Step(
                    f"set the tables of publication {spec.publication_name}",
                    lambda: self._exec(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(pub, wanted)),
                    lambda: self._exec(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(pub, before)),
                )
            )
        if not plan.slot_exists:
            # Debezium creates the slot when the connector starts: gone again if onboarding fails.
            pre.steps.append(
                Step(
                    f"replication slot {spec.slot_name} (made by Debezium)",
                    None,
                    lambda: self._drop_slot(spec.slot_name),
                )
            )
        return pre

    def _drop_bus_tables(self, tables: list[str], schema_of: str | None) -> None:
        stmts: list[sql.Composed] = [sql.SQL("DROP TABLE IF EXISTS {}").format(_ident(t)) for t in tables]
        if schema_of is not None:
            stmts.append(
                sql.SQL("DROP SCHEMA IF EXISTS {}").format(sql.Identifier(schema_of.partition(".")[0]))
            )
        self._exec(*stmts)

    def _drop_slot(self, slot: str) -> bool:
        with pg_connect(self.target) as conn:
            return slots.drop_slot(conn, slot)

    def columns(self, tables: tuple[str, ...]) -> dict[str, tuple[Column, ...]]:
        out: dict[str, tuple[Column, ...]] = {}
        with pg_connect(self.target) as conn:
            for table in tables:
                schema, _, name = table.partition(".")
                rows = conn.execute(_COLUMNS_SQL, (schema, name)).fetchall()
                out[table] = tuple(Column(r[0], r[1].lower(), bool(r[2]), bool(r[3]), r[4]) for r in rows)
        return out

    def retention(self, spec: CaptureSpec) -> Retention | None:
        with pg_connect(self.target) as conn:
            status = slots.slot_status(conn, spec.slot_name)
        if status is None:
            return Retention("replication slot", spec.slot_name, None, None, None, "no such slot")
        return Retention(
            "replication slot",
            status.name,
            status.active,
            status.retained_bytes,
            status.lag_bytes,
            f"wal_status {status.wal_status}",
        )

    def drop_capture_state(self, spec: CaptureSpec) -> list[str]:
        dropped = []
        with pg_connect(self.target) as conn:
            if slots.drop_slot(conn, spec.slot_name):
                dropped.append(f"replication slot {spec.slot_name}")
            row = conn.execute(
                "SELECT pg_has_role(current_user, pubowner, 'USAGE'), pg_get_userbyid(pubowner)"
                " FROM pg_publication WHERE pubname = %s",
                (spec.publication_name,),
            ).fetchone()
            if row is not None and row[0]:
                conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(spec.publication_name)))
                dropped.append(f"publication {spec.publication_name}")
            elif row is not None:  # the table owner created it: only it (or a superuser) may drop it
                dropped.append(
                    f"(publication {spec.publication_name} kept: owned by {row[1]}, who drops it with"
                    f" DROP PUBLICATION {spec.publication_name})"
                )
        return dropped

    def send_signal(self, spec: CaptureSpec, signal_id: str, signal_type: str, data: str) -> None:
        stmt = sql.SQL("INSERT INTO {} (id, type, data) VALUES (%s, %s, %s)").format(
            _ident(spec.signal_table)
        )
        with pg_connect(self.target) as conn:
            conn.execute(stmt, (signal_id, signal_type, data))
