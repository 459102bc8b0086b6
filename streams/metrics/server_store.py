"""The metrics store on a ClickHouse server, through clickhouse-connect's HTTP client."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from sharebus.core.errors import UnreachableError
from streams.metrics.errors import MetricsError
from streams.metrics.rows import (
    AUDIT_COLUMNS,
    CALL_COLUMNS,
    POSITION_COLUMNS,
    QUALITY_COLUMNS,
    AuditRow,
    CallRow,
    PositionRow,
    QualityRow,
)
from streams.metrics.store import DEFAULT_DATABASE, MetricsStore, Params, insert_settings, plain

# clickhouse-connect logs a failed request at ERROR before raising it; the raised error is
# turned into ours (naming the server and the fix). Without a handler of its own, Python's
# last-resort handler would print its line on a CLI user's terminal.
logging.getLogger("clickhouse_connect").addHandler(logging.NullHandler())


class QueryResultLike(Protocol):
    """What the store reads of clickhouse-connect's `QueryResult`."""

    @property
    def column_names(self) -> Sequence[str]: ...

    @property
    def result_rows(self) -> Sequence[Sequence[Any]]: ...


class ClientLike(Protocol):
    """The part of clickhouse-connect's `Client` the store uses (a fake in unit tests)."""

    def command(self, cmd: str, *, parameters: Any = None) -> Any: ...

    def query(self, query: str, *, parameters: Any = None) -> QueryResultLike: ...

    def insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        *,
        column_names: Sequence[str],
        database: str,
        settings: dict[str, Any] | None = None,
    ) -> Any: ...

    def close(self) -> None: ...


class ServerStore(MetricsStore):
    """Any number of processes may share one server: the worker(s) insert, the CLI and the
    dashboard query directly. Tables are always named `<database>.<table>`."""

    def __init__(
        self, client: ClientLike, *, database: str = DEFAULT_DATABASE, description: str = ""
    ) -> None:
        self._client = client
        self.database = database
        self.description = description or f"ClickHouse server (database {database})"

    @classmethod
    def connect(cls, *, host: str, port: int, database: str, user: str, password: str) -> ServerStore:
        """A store on the server at host:port (HTTP); the database is created by `apply_ddl`."""
        import clickhouse_connect

        description = f"ClickHouse server {host}:{port}/{database}"
        try:
            # No session id: the sink's thread and the web server's threads query concurrently,
            # which ClickHouse refuses within one session.
            client = clickhouse_connect.get_client(
                host=host,
                port=port,
                username=user,
                password=password,
                autogenerate_session_id=False,
                connect_timeout=5,
                send_receive_timeout=60,
            )
        except Exception as exc:
            raise UnreachableError(
                description,
                "does not answer",
                actual=str(exc).strip()[:500],
                fix="start the server (docker compose up clickhouse) or correct SHAREBUS_METRICS_URL,"
                " SHAREBUS_METRICS_USER and SHAREBUS_METRICS_PASSWORD",
            ) from None
        return cls(client, database=database, description=description)

    def command(self, sql: str, params: Params | None = None) -> None:
        try:
            self._client.command(sql, parameters=dict(params) if params else None)
        except Exception as exc:
            raise MetricsError(
                self.description, "statement failed", actual=str(exc).strip()[:800], details=sql
            ) from None

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        try:
            result = self._client.query(sql, parameters=dict(params) if params else None)
        except Exception as exc:
            raise MetricsError(
                self.description, "query failed", actual=str(exc).strip()[:800], details=sql
            ) from None
        names = list(result.column_names)
        return [dict(zip(names, map(plain, row), strict=True)) for row in result.result_rows]

    def insert_calls(self, rows: Sequence[CallRow], *, token: str | None = None) -> None:
        if rows:
            # CallRow's field order is CALL_COLUMNS; aware datetimes go in as UTC instants.
            self._insert("calls", CALL_COLUMNS, rows, token)

    def insert_positions(self, rows: Sequence[PositionRow], *, token: str | None = None) -> None:
        if rows:
            data = [(r.ts, r.subscriber, r.group, r.topic, r.partition, r.committed, r.end) for r in rows]
            self._insert("positions", POSITION_COLUMNS, data, token)

    def insert_audit(self, rows: Sequence[AuditRow], *, token: str | None = None) -> None:
        if rows:
            # AuditRow's field order is AUDIT_COLUMNS; aware datetimes go in as UTC instants.
            self._insert("audit_events", AUDIT_COLUMNS, rows, token)

    def insert_quality(self, rows: Sequence[QualityRow], *, token: str | None = None) -> None:
        if rows:
            # QualityRow's field order is QUALITY_COLUMNS; aware datetimes go in as UTC instants.
            plain = [row._replace(unmatched=dict(row.unmatched)) for row in rows]
            self._insert("quality", QUALITY_COLUMNS, plain, token)

    def _insert(
        self, table: str, names: Sequence[str], data: Sequence[Sequence[Any]], token: str | None
    ) -> None:
        settings = insert_settings(token)
        try:
            self._client.insert(
                table, data, column_names=list(names), database=self.database, settings=settings
            )
        except Exception as exc:
            raise MetricsError(
                self.description, f"insert into {table} failed", actual=str(exc).strip()[:800]
            ) from None

    def close(self) -> None:
        self._client.close()
