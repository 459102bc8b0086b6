"""Sample department databases: connections, DDL and CDC grants, and bulk loading of rows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from sharebus.core.errors import ConfigError, UnreachableError
from sharebus.core.settings import Settings
from sharebus.dev.samples.departments import DEPARTMENTS, SampleDepartment
from sharebus.dev.stack.postgres import ensure_cdc_role

# Applied to every department database before the department's own DDL.
COMMON_SQL_FILE = "_sharebus.sql"
# Schemas whose tables the CDC role must read (snapshots) and whose use it needs.
CDC_SCHEMAS = ("public", "sharebus")
# Tables the CDC role writes to: the signal channel and the heartbeat action query's target.
CDC_WRITABLE_TABLES = (("sharebus", "debezium_signal"), ("sharebus", "heartbeat"))
CONNECT_TIMEOUT_S = 5
STACK_FIX = "start the stack: sharebus stack up (or point SHAREBUS_PG_HOST/SHAREBUS_PG_PORT at it)"


def where(settings: Settings, dbname: str) -> str:
    """`database "<db>" at host:port`, for messages; never carries credentials."""
    return f'database "{dbname}" at {settings.pg_host}:{settings.pg_port}'


def connect(settings: Settings, dbname: str = "postgres", *, autocommit: bool = True) -> psycopg.Connection:
    """A superuser connection to `dbname`; UnreachableError naming db, host:port and the fix."""
    try:
        return psycopg.connect(
            settings.pg_dsn(dbname), autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S
        )
    except psycopg.OperationalError as exc:
        message = " ".join(str(exc).split())
        if "password authentication failed" in message:
            raise UnreachableError(
                where(settings, dbname),
                "PostgreSQL rejected the superuser's password",
                expected=f"the password of {settings.pg_user!r} in SHAREBUS_PG_PASSWORD",
                actual=message,
                fix="set SHAREBUS_PG_PASSWORD (and SHAREBUS_PG_USER) to the stack's superuser",
            ) from None
        if f'database "{dbname}" does not exist' in message:
            raise UnreachableError(
                where(settings, dbname),
                "the database does not exist",
                expected="a sample department database created by `sharebus samples init`",
                actual=message,
                fix="create it: sharebus samples init "
                + " ".join(d.id for d in DEPARTMENTS if d.database == dbname),
            ) from None
        raise UnreachableError(
            where(settings, dbname),
            "cannot connect as the superuser",
            expected=f"PostgreSQL accepting user {settings.pg_user!r}",
            actual=message,
            fix=STACK_FIX,
        ) from None


def sql_text(file_name: str) -> str:
    """The text of a DDL file shipped in sharebus/dev/samples/sql/."""
    path = resources.files("sharebus.dev.samples").joinpath("sql", file_name)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"sharebus/dev/samples/sql/{file_name}",
            "the DDL file is missing from the package",
            expected="a file shipped with sharebus",
            actual="no such file",
            fix="reinstall sharebus (pip install -e .) or restore the file",
        ) from None


def apply_schema(settings: Settings, dept: SampleDepartment) -> None:
    """Create `dept`'s database if missing, apply its DDL and grant the CDC role; idempotent."""
    common, own = sql_text(COMMON_SQL_FILE), sql_text(dept.sql_file)
    with connect(settings) as conn:
        _ensure_database(conn, dept.database)
        ensure_cdc_role(conn, settings.pg_cdc_user, settings.pg_cdc_password.get_secret_value())
    with connect(settings, dept.database, autocommit=False) as conn:
        # Both files are plain DDL without placeholders: sent as one simple-protocol batch each.
        conn.execute(common.encode())
        conn.execute(own.encode())
        _grant_cdc(conn, dept.database, settings.pg_cdc_user)
        conn.commit()


def _ensure_database(conn: psycopg.Connection, dbname: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    if exists:
        return
    create = sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0")
    # A concurrent creator may win the race: the database then exists, which is all that counts.
    with contextlib.suppress(pg_errors.DuplicateDatabase):
        conn.execute(create.format(sql.Identifier(dbname)))


def _grant_cdc(conn: psycopg.Connection, dbname: str, role: str) -> None:
    cdc = sql.Identifier(role)
    stmts = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), cdc),
    ]
    for schema in CDC_SCHEMAS:
        s = sql.Identifier(schema)
        stmts += [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, cdc),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, cdc),
            # Tables the superuser creates later in these schemas are readable by the CDC role too.
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, cdc),
        ]
    for schema, table in CDC_WRITABLE_TABLES:
        stmts.append(
            sql.SQL("GRANT INSERT, UPDATE, DELETE ON {} TO {}").format(sql.Identifier(schema, table), cdc)
        )
    for stmt in stmts:
        conn.execute(stmt)


def require_tables(
    conn: psycopg.Connection, settings: Settings, dbname: str, tables: Sequence[str], dept_id: str
) -> None:
    """ConfigError naming the first of `tables` missing in `dbname`, with the init command."""
    for table in tables:
        row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if row is None or row[0] is None:
            raise ConfigError(
                where(settings, dbname),
                f"has no table {table}",
                expected="the sample schema applied",
                actual="table missing",
                fix=f"apply it: sharebus samples init {dept_id}",
            )
    if not conn.autocommit:
        conn.commit()


def copy_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    batch_size: int = 1000,
    tick: Callable[[int], None] | None = None,
) -> int:
    """Bulk-insert `rows` (values in `columns` order) into `table`, skipping rows whose keys
    exist; returns rows inserted. Each batch is COPYed into a staging table, moved with
    INSERT ... ON CONFLICT DO NOTHING and committed. `conn` must not be in autocommit."""
    schema, name = table.split(".")
    target, stage = sql.Identifier(schema, name), sql.Identifier(f"_stage_{name}")
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(stage, target)
    )
    copy_stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)
    move_stmt = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
        target, cols, cols, stage
    )
    inserted = 0
    batch: list[Sequence[Any]] = []
    for values in rows:
        batch.append(values)
        if len(batch) >= batch_size:
            inserted += _flush(conn, copy_stmt, move_stmt, batch)
            if tick:
                tick(len(batch))
            batch = []
    if batch:
        inserted += _flush(conn, copy_stmt, move_stmt, batch)
        if tick:
            tick(len(batch))
    return inserted


def _flush(
    conn: psycopg.Connection, copy_stmt: sql.Composed, move_stmt: sql.Composed, batch: list[Sequence[Any]]
) -> int:
    with conn.cursor() as cur:
        with cur.copy(copy_stmt) as cp:
            for values in batch:
                cp.write_row(values)
        cur.execute(move_stmt)
        count = cur.rowcount
    conn.commit()  # ON COMMIT DELETE ROWS empties the staging table for the next batch
    return max(count, 0)


def row_statement(kind: str, table: str, key: str, cols: Sequence[str]) -> sql.Composed:
    """One-row statement on `table` by primary key `key`: "insert" (of `cols`, ON CONFLICT DO
    NOTHING RETURNING key), "update" (SET `cols`, then the key) or "delete" (by the key)."""
    target, pk = sql.Identifier(*table.split(".")), sql.Identifier(key)
    if kind == "insert":
        insert = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING {}"
        return sql.SQL(insert).format(
            target,
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)),
            pk,
        )
    if kind == "update":
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols)
        return sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(target, sets, pk)
    if kind == "delete":
        return sql.SQL("DELETE FROM {} WHERE {} = %s").format(target, pk)
    raise ValueError(f"unknown statement kind {kind!r}")
