"""A resource's source table read as Debezium would send its rows (JSON values, schemas disabled,
`decimal.handling.mode=string`): what reconcile routes through the policy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from psycopg import sql

from connectors.client import ConnectClient
from connectors.dbconn import mariadb_connect, pg_connect
from connectors.dburl import MARIADB, DbTarget
from connectors.registered import connector_config, spec_of, target_of
from sharebus.catalog.models import FieldType, Resource
from sharebus.core import naming
from sharebus.core.settings import Settings

_EPOCH_DAY = date(1970, 1, 1).toordinal()
FETCH = 5000


def source_target(settings: Settings, resource: Resource) -> DbTarget:
    """The database the resource's connector captures, logged in as the connector's user (its
    password from the secrets dir Connect reads, or $SHAREBUS_DB_PASSWORD)."""
    name = naming.connector_of_source(resource.source.connector)
    config = connector_config(ConnectClient.of(settings), name)
    return target_of(spec_of(name, config), config, secrets_dir=settings.secrets_dir)


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:  # MariaDB TIMESTAMP read in a UTC session
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def debezium_value(ftype: FieldType | None, value: Any) -> Any:
    """A database driver's value in the JSON form Debezium gives a field of catalog type `ftype`
    (None: a column the catalog does not know — converted by its Python type)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().toordinal() - _EPOCH_DAY if ftype is FieldType.DATE else _iso(value)
    if isinstance(value, date):
        return value.toordinal() - _EPOCH_DAY if ftype is not FieldType.STRING else value.isoformat()
    if isinstance(value, Decimal):
        if ftype is FieldType.FLOAT:
            return float(value)
        if ftype is FieldType.INTEGER:
            return int(value)
        return format(value, "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode()
    if ftype is FieldType.BOOLEAN and isinstance(value, int):
        return bool(value)
    if ftype is FieldType.DECIMAL and isinstance(value, int | float):
        return str(value)
    return value


def read_rows(
    target: DbTarget,
    resource: Resource,
    region_codes: Sequence[str] | None,
) -> Iterator[dict[str, Any]]:
    """Every row of the resource's source table (only those whose region field is in
    `region_codes`, when given), as Debezium-shaped after-images, streamed."""
    types: Mapping[str, FieldType] = {f.name: f.type for f in resource.fields}
    if region_codes is not None and not region_codes and resource.region_field is not None:
        return  # the subscriber receives no district's rows of this resource
    if target.kind == MARIADB:
        yield from _mariadb_rows(target, resource, region_codes, types)
        return
    schema, table = resource.source.schema_name, resource.source.table_name
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
    params: list[Any] = []
    if region_codes is not None and resource.region_field is not None:
        query = sql.SQL("{} WHERE {}::text = ANY(%s)").format(query, sql.Identifier(resource.region_field))
        params.append(list(region_codes))
    with pg_connect(target, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with conn.cursor(name="sharebus_reconcile") as cur:
            cur.itersize = FETCH
            cur.execute(query, params)
            names = [d.name for d in cur.description or ()]
            for values in cur:
                yield {n: debezium_value(types.get(n), v) for n, v in zip(names, values, strict=True)}


def _mariadb_rows(
    target: DbTarget,
    resource: Resource,
    region_codes: Sequence[str] | None,
    types: Mapping[str, FieldType],
) -> Iterator[dict[str, Any]]:
    import pymysql.cursors

    db, table = resource.source.schema_name, resource.source.table_name
    query = f"SELECT * FROM `{db}`.`{table}`"
    params: list[Any] = []
    if region_codes is not None and resource.region_field is not None:
        query += f" WHERE `{resource.region_field}` IN ({', '.join(['%s'] * len(region_codes))})"
        params = list(region_codes)
    conn = mariadb_connect(target, database=db)
    try:
        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(query, params or None)
            names = [d[0] for d in cur.description or ()]
            for values in cur:
                yield {n: debezium_value(types.get(n), v) for n, v in zip(names, values, strict=True)}
    finally:
        conn.close()


def count_by_region(target: DbTarget, resource: Resource, where: str | None) -> dict[str | None, int]:
    """Rows of the source table matching `where`, per region code (one None entry when the
    resource is not partitioned by region)."""
    region = resource.region_field
    schema, table = resource.source.schema_name, resource.source.table_name
    cond = f" WHERE {where}" if where else ""
    if target.kind == MARIADB:
        pick = f"CAST(`{region}` AS CHAR)" if region else "NULL"
        query = f"SELECT {pick}, count(*) FROM `{schema}`.`{table}`{cond} GROUP BY 1"
        conn = mariadb_connect(target, database=schema)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                rows = list(cur.fetchall())
        finally:
            conn.close()
    else:
        pick_sql = sql.SQL("{}::text").format(sql.Identifier(region)) if region else sql.SQL("NULL::text")
        stmt = sql.SQL("SELECT {}, count(*) FROM {}{} GROUP BY 1").format(
            pick_sql, sql.Identifier(schema, table), sql.SQL(cond)
        )
        with pg_connect(target) as conn:
            rows = list(conn.execute(stmt).fetchall())
    return {(None if r[0] is None else str(r[0]).strip()): int(r[1]) for r in rows}
