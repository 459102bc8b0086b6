"""The metrics store interface, and `open_store` choosing its backend by SHAREBUS_METRICS_URL."""

from __future__ import annotations

import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from sharebus.core.errors import ConfigError
from streams.metrics import migrations
from streams.metrics.rows import AuditRow, CallRow, PositionRow, QualityRow

DEFAULT_DATABASE = "sharebus"
DEFAULT_HTTP_PORT = 8123
URL_FORMS = (
    "chdb:///absolute/path or chdb:///.relative/path (a first segment starting with '.'),"
    " or clickhouse://[user:password@]host:8123/database"
)

Params = Mapping[str, str | int | float]


class MetricsStore(ABC):
    """One metrics store: the same DDL and SQL on embedded chDB or a ClickHouse server.

    Implementations are safe to share between threads (the sink's flush thread inserts while the
    web server's executor threads query).
    """

    database: str
    description: str
    """Where the store lives, for messages (no password)."""

    def apply_ddl(self) -> list[str]:
        """Apply the versioned DDL not applied yet (idempotent); return the files applied."""
        db = self.database

        def applied() -> dict[int, str]:
            rows = self.query(migrations.applied_versions_sql(db))
            return {int(r["version"]): str(r["checksum"]) for r in rows}

        def record(m: migrations.Migration) -> None:
            self.command(
                f"INSERT INTO {db}.{migrations.VERSION_TABLE} (version, name, checksum)"
                " SELECT {version:UInt32}, {name:String}, {checksum:String}",
                {"version": m.version, "name": m.name, "checksum": m.checksum},
            )

        return migrations.apply_migrations(db, command=self.command, applied=applied, record=record)

    @abstractmethod
    def command(self, sql: str, params: Params | None = None) -> None:
        """Run one statement that returns no rows (DDL, INSERT … SELECT)."""

    @abstractmethod
    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Rows of one SELECT as dicts; `{name:Type}` placeholders bound from `params`.

        Values are plain JSON types: str, int, float (None for NaN), lists.
        """

    @abstractmethod
    def insert_calls(self, rows: Sequence[CallRow], *, token: str | None = None) -> None:
        """Insert call rows in one batch; a retry with the same `token` is stored once."""

    @abstractmethod
    def insert_positions(self, rows: Sequence[PositionRow], *, token: str | None = None) -> None:
        """Insert sampled consumer positions in one batch."""

    @abstractmethod
    def insert_audit(self, rows: Sequence[AuditRow], *, token: str | None = None) -> None:
        """Insert audit events (rows of `audit_events`) in one batch."""

    @abstractmethod
    def insert_quality(self, rows: Sequence[QualityRow], *, token: str | None = None) -> None:
        """Insert per-minute quality figures (rows of `quality`) in one batch."""

    @abstractmethod
    def close(self) -> None:
        """Release the store (for chDB: the data path, so another process may open it)."""

    def __enter__(self) -> MetricsStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def new_token() -> str:
    """A fresh insert deduplication token."""
    return uuid.uuid4().hex


def insert_settings(token: str | None) -> dict[str, str | int]:
    """Settings of every insert: a deduplication token (fresh unless a retry passes its own), and
    deduplication of the rollups' blocks too, so a retried batch is counted once everywhere.

    Every insert needs a token: without one, ClickHouse deduplicates by data hash within the
    window, and two flushes with identical rows are legitimately two batches.
    """
    token = token or new_token()
    if any(c not in "0123456789abcdefABCDEF-_" for c in token) or len(token) > 64:
        raise ValueError(f"insert token must be hex (a uuid4().hex), got {token!r}")
    return {"insert_deduplication_token": token, "deduplicate_blocks_in_dependent_materialized_views": 1}


def plain(value: Any) -> Any:
    """A query value as a plain JSON type: NaN (an empty quantile) becomes None, tuples lists."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A parsed SHAREBUS_METRICS_URL."""

    scheme: str  # "chdb" | "clickhouse"
    path: Path | None = None
    host: str = ""
    port: int = DEFAULT_HTTP_PORT
    database: str = DEFAULT_DATABASE
    user: str | None = None
    password: str | None = None

    @property
    def embedded(self) -> bool:
        return self.scheme == "chdb"

    def describe(self) -> str:
        if self.path is not None:
            return f"chDB at {self.path.resolve()}"
        return f"ClickHouse server {self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> StoreUrl:
    """Parse SHAREBUS_METRICS_URL.

    `chdb:///var/lib/sharebus/metrics` is the absolute path /var/lib/sharebus/metrics (as in
    clickhouse-connect's chdb DSNs); a path whose first segment starts with '.' is relative to
    the working directory: `chdb:///.runtime/metrics` (the default), `chdb:///./data/metrics`.
    """
    if url.startswith("chdb://"):
        rest = url[len("chdb://") :]
        if not rest.startswith("/") or not rest.strip("/") or "?" in rest:
            raise _bad_url(url, "a chdb URL names a data directory after three slashes")
        path = rest.lstrip("/")
        return StoreUrl("chdb", path=Path(path) if path.startswith(".") else Path("/" + path))
    if url.startswith("clickhouse://"):
        parts = urlsplit(url)
        if not parts.hostname:
            raise _bad_url(url, "a clickhouse URL names the server host")
        try:
            port = parts.port or DEFAULT_HTTP_PORT
        except ValueError:
            raise _bad_url(url, "the port is not a number") from None
        database = parts.path.strip("/") or DEFAULT_DATABASE
        if "/" in database:
            raise _bad_url(url, "the path names one database")
        migrations.check_database_name(database)
        return StoreUrl(
            "clickhouse",
            host=parts.hostname,
            port=port,
            database=database,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
    raise _bad_url(url, "unknown scheme")


def _bad_url(url: str, problem: str) -> ConfigError:
    shown = url.split("@", 1)[-1] if "@" in url else url  # never echo a password
    return ConfigError(
        "SHAREBUS_METRICS_URL",
        problem,
        expected=URL_FORMS,
        actual=shown,
        fix="set SHAREBUS_METRICS_URL to one of the expected forms",
    )
