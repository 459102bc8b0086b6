"""What preflight needs to know about a MariaDB department database: binlog settings, the user's
own privileges (global, database, table) and the captured tables, read as that user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql

from connectors.dbconn import MariaConnection
from connectors.render import CaptureSpec


@dataclass(frozen=True)
class MariaTable:
    name: str  # database.table
    exists: bool
    has_pk: bool = False
    engine: str = ""
    privileges: frozenset[str] = frozenset()  # global ∪ database ∪ table privileges of the user


@dataclass(frozen=True)
class MariaFacts:
    version: str
    user: str  # 'name'@'host' as CURRENT_USER() reports it
    log_bin: bool
    binlog_format: str
    binlog_row_image: str
    server_id: int
    binlog_expire_seconds: int
    global_privileges: frozenset[str]
    database_privileges: frozenset[str]  # on the captured database
    tables: tuple[MariaTable, ...]
    bus_tables: tuple[MariaTable, ...]


def _rows(conn: MariaConnection, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return list(cur.fetchall())


def grantee(current_user: str) -> str:
    """`user@host` (CURRENT_USER()) as information_schema spells grantees: 'user'@'host'."""
    user, _, host = current_user.rpartition("@")
    return f"'{user}'@'{host}'"


def _privileges(conn: MariaConnection, query: str, params: tuple[Any, ...]) -> frozenset[str]:
    return frozenset(str(r[0]).upper() for r in _rows(conn, query, params))


def read_mariadb_facts(conn: MariaConnection, spec: CaptureSpec) -> MariaFacts:
    """Everything the MariaDB checks look at; `conn` is logged in as the capture user."""
    ((version, user, log_bin, fmt, image, server_id),) = _rows(
        conn, "SELECT VERSION(), CURRENT_USER(), @@log_bin, @@binlog_format, @@binlog_row_image, @@server_id"
    )
    expire = _binlog_expiry(conn)
    who = grantee(str(user))
    global_privs = _privileges(
        conn, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s", (who,)
    )
    db_privs = _privileges(
        conn,
        "SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"
        " WHERE GRANTEE = %s AND TABLE_SCHEMA = %s",
        (who, spec.db_name),
    )

    def table(name: str) -> MariaTable:
        db, _, tbl = name.partition(".")
        found = _rows(
            conn,
            "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (db, tbl),
        )
        if not found:
            return MariaTable(name, False)
        # COLUMNS, not TABLE_CONSTRAINTS: the latter lists nothing to a user with only SELECT.
        pk = _rows(
            conn,
            "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
            " AND TABLE_NAME = %s AND COLUMN_KEY = 'PRI'",
            (db, tbl),
        )
        own = _privileges(
            conn,
            "SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES"
            " WHERE GRANTEE = %s AND TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (who, db, tbl),
        )
        schema_privs = (
            db_privs
            if db == spec.db_name
            else _privileges(
                conn,
                "SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"
                " WHERE GRANTEE = %s AND TABLE_SCHEMA = %s",
                (who, db),
            )
        )
        return MariaTable(name, True, bool(pk), str(found[0][0] or ""), global_privs | schema_privs | own)

    return MariaFacts(
        version=str(version),
        user=str(user),
        log_bin=bool(int(log_bin)),
        binlog_format=str(fmt).upper(),
        binlog_row_image=str(image).upper(),
        server_id=int(server_id),
        binlog_expire_seconds=expire,
        global_privileges=global_privs,
        database_privileges=db_privs,
        tables=tuple(table(t) for t in spec.tables),
        bus_tables=tuple(table(t) for t in spec.bus_tables),
    )


def _binlog_expiry(conn: MariaConnection) -> int:
    """binlog_expire_logs_seconds (MariaDB 10.6+), else expire_logs_days in seconds."""
    try:
        ((value,),) = _rows(conn, "SELECT @@binlog_expire_logs_seconds")
        return int(value)
    except pymysql.MySQLError:  # older servers: only expire_logs_days
        ((days,),) = _rows(conn, "SELECT @@expire_logs_days")
        return int(float(days) * 86400)
