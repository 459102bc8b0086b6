"""The PostgreSQL publication a Debezium connector streams from, created by the database owner so
the CDC role needs no more than REPLICATION and SELECT."""

from __future__ import annotations

import psycopg
from psycopg import sql

from connectors.render import BUS_TABLES


def _ident(qualified: str) -> sql.Composable:
    schema, _, table = qualified.partition(".")
    return sql.Identifier(schema, table)


def ensure_publication(admin_dsn: str, name: str, tables: tuple[str, ...]) -> str:
    """Create `name` FOR exactly `tables` (plus the bus tables), or reset its table list;
    returns 'created', 'updated' or 'unchanged'."""
    wanted = tuple(dict.fromkeys((*tables, *BUS_TABLES)))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s",
            (name,),
        ).fetchall()
        exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
        table_list = sql.SQL(", ").join(_ident(t) for t in wanted)
        if not exists:
            conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), table_list)
            )
            return "created"
        if {r[0] for r in rows} == set(wanted):
            return "unchanged"
        conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name), table_list))
        return "updated"


def drop_publication(admin_dsn: str, name: str) -> bool:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
        if exists:
            conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(name)))
        return bool(exists)


def drop_slot(admin_dsn: str, name: str) -> bool:
    """Drop an inactive replication slot; False if there was none."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)).fetchone()
        if row is None:
            return False
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        return True
