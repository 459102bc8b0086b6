"""What preflight needs to know about a PostgreSQL department database, read in one session as
the user Debezium will connect as (so privileges are that user's own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from connectors.render import CaptureSpec


@dataclass(frozen=True)
class PgTable:
    """One table: whether it exists, its key and replica identity, and the user's rights on it."""

    name: str  # schema.table
    exists: bool
    has_pk: bool = False
    replica_identity: str = "d"  # d default, n nothing, f full, i index
    schema_usage: bool = False
    can_select: bool = False
    can_insert: bool = False
    can_update: bool = False
    owned: bool = False  # the user is (a member of) the owner
    owner: str | None = None


@dataclass(frozen=True)
class PgSlot:
    name: str
    plugin: str | None
    database: str | None
    active: bool
    retained_bytes: int | None


@dataclass(frozen=True)
class PgFacts:
    version: str
    user: str
    wal_level: str
    superuser: bool
    replication: bool
    can_create_in_db: bool  # CREATE on the database: schemas, publications
    max_replication_slots: int
    used_slots: int
    max_wal_senders: int
    active_senders: int
    tables: tuple[PgTable, ...]
    bus_tables: tuple[PgTable, ...]
    bus_schema_exists: bool
    slot: PgSlot | None
    publication_exists: bool
    publication_tables: tuple[str, ...] = ()
    publication_all_tables: bool = False
    publication_owned: bool = False


_TABLE_SQL = """
SELECT c.oid IS NOT NULL,
       COALESCE(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), false),
       COALESCE(c.relreplident::text, 'd'),
       n.oid IS NOT NULL AND has_schema_privilege(current_user, n.oid, 'USAGE'),
       c.oid IS NOT NULL AND has_table_privilege(current_user, c.oid, 'SELECT'),
       c.oid IS NOT NULL AND has_table_privilege(current_user, c.oid, 'INSERT'),
       c.oid IS NOT NULL AND has_table_privilege(current_user, c.oid, 'UPDATE'),
       c.oid IS NOT NULL AND pg_has_role(current_user, c.relowner, 'USAGE'),
       pg_get_userbyid(c.relowner)
FROM (SELECT 1) one
LEFT JOIN pg_namespace n ON n.nspname = %(schema)s
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = %(table)s AND c.relkind IN ('r', 'p')
"""


def _one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def _table(conn: psycopg.Connection[Any], name: str) -> PgTable:
    schema, _, table = name.partition(".")
    row = conn.execute(_TABLE_SQL, {"schema": schema, "table": table}).fetchone()
    assert row is not None
    exists, has_pk, ident, usage, select, insert, update, owned, owner = row
    if not exists:
        return PgTable(name, False, schema_usage=bool(usage))
    return PgTable(name, True, has_pk, ident, bool(usage), select, insert, update, owned, owner)


def read_pg_facts(conn: psycopg.Connection[Any], spec: CaptureSpec) -> PgFacts:
    """Everything the PostgreSQL checks look at; `conn` is logged in as the capture user."""
    superuser, replication = conn.execute(
        "SELECT rolsuper, rolreplication OR EXISTS (SELECT 1 FROM pg_roles r"
        " WHERE r.rolname = 'rds_replication' AND pg_has_role(current_user, r.oid, 'MEMBER'))"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone() or (False, False)
    slot_row = conn.execute(
        "SELECT plugin, database, active,"
        " CASE WHEN restart_lsn IS NULL THEN NULL"
        " ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END"
        " FROM pg_replication_slots WHERE slot_name = %s",
        (spec.slot_name,),
    ).fetchone()
    slot = PgSlot(spec.slot_name, *slot_row) if slot_row else None
    pub = conn.execute(
        "SELECT puballtables, pg_has_role(current_user, pubowner, 'USAGE') FROM pg_publication"
        " WHERE pubname = %s",
        (spec.publication_name,),
    ).fetchone()
    pub_tables = tuple(
        sorted(
            r[0]
            for r in conn.execute(
                "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s",
                (spec.publication_name,),
            ).fetchall()
        )
    )
    return PgFacts(
        version=_one(conn, "SHOW server_version"),
        user=_one(conn, "SELECT current_user"),
        wal_level=_one(conn, "SHOW wal_level"),
        superuser=bool(superuser),
        replication=bool(superuser or replication),
        can_create_in_db=bool(_one(conn, "SELECT has_database_privilege(current_database(), 'CREATE')")),
        max_replication_slots=int(_one(conn, "SHOW max_replication_slots")),
        used_slots=int(_one(conn, "SELECT count(*) FROM pg_replication_slots")),
        max_wal_senders=int(_one(conn, "SHOW max_wal_senders")),
        active_senders=int(_one(conn, "SELECT count(*) FROM pg_stat_replication")),
        tables=tuple(_table(conn, t) for t in spec.tables),
        bus_tables=tuple(_table(conn, t) for t in spec.bus_tables),
        bus_schema_exists=bool(
            _one(
                conn,
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                (spec.signal_table.partition(".")[0],),
            )
        ),
        slot=slot,
        publication_exists=pub is not None,
        publication_tables=pub_tables,
        publication_all_tables=bool(pub and pub[0]),
        publication_owned=bool(pub and pub[1]),
    )
