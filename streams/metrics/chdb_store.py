"""The embedded metrics store: chDB on a local data path, owned by exactly one process."""

from __future__ import annotations

import fcntl
import os
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chdb
import orjson

from streams.metrics.errors import MetricsError, StoreBusyError
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
from streams.metrics.store import DEFAULT_DATABASE, MetricsStore, Params, insert_settings

_LOCKED = "Cannot lock file"
_OTHER_PATH = "different path"

# The reader's session settings `query` relies on to hand JSON rows on as they are parsed (no
# pass over every value): 64-bit integers as numbers, NaN and inf as null.
_READ_SETTINGS = "SET output_format_json_quote_64bit_integers = 0, output_format_json_quote_denormals = 0"

# Data paths this process holds open (the engine's flock on <path>/status is ours for these).
_HELD: Counter[Path] = Counter()
_HELD_LOCK = threading.Lock()


class ChdbStore(MetricsStore):
    """chDB allows one process per data path and one data path per process: this object holds
    the path until `close()`. Two connections (writer, reader), each used under its own lock,
    so a long query does not hold up the sink's inserts."""

    def __init__(self, path: Path, *, database: str = DEFAULT_DATABASE) -> None:
        self.path = path.resolve()
        self.database = database
        self.description = f"chDB at {self.path}"
        self.path.mkdir(parents=True, exist_ok=True)
        with _HELD_LOCK:
            held = next((p for p in _HELD if p != self.path), None)
            if held is not None:
                raise MetricsError(
                    self.description,
                    f"this process already holds the chDB data path {held}",
                    expected="one chDB data path per process",
                    fix="close the other store first (MetricsStore.close())",
                )
            if not _HELD[self.path]:
                check_not_owned(self.path)
            self._write = self._connect()
            try:
                self._read = self._connect()
            except BaseException:
                self._write.close()
                raise
            try:
                self._read.query(_READ_SETTINGS, "CSV")
            except BaseException:
                self._read.close()
                self._write.close()
                raise
            _HELD[self.path] += 1
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._closed = False

    def _connect(self) -> Any:
        try:
            return chdb.connect(str(self.path))  # type: ignore[no-untyped-call]
        except RuntimeError as exc:
            text = str(exc)
            if _LOCKED in text or (not _HELD[self.path] and locked_by_other(self.path)):
                raise busy_error(self.path) from None
            if _OTHER_PATH in text:
                raise MetricsError(
                    self.description,
                    "this process already holds another chDB data path",
                    expected="one chDB data path per process",
                    fix="close the other store first (MetricsStore.close())",
                ) from None
            raise MetricsError(
                self.description, "chDB could not open the data path", actual=text.strip()[:500]
            ) from None

    # --- statements ----------------------------------------------------------------------------
    def command(self, sql: str, params: Params | None = None) -> None:
        with self._write_lock:
            self._run(self._write, sql, params, "CSV")

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        with self._read_lock:
            raw = self._run(self._read, sql, params, "JSON")
        data = raw.bytes()
        if not data:
            return []
        # Already plain (see _READ_SETTINGS): JSON has no tuples, and NaN comes as null.
        rows: list[dict[str, Any]] = orjson.loads(data)["data"]
        return rows

    def _run(self, conn: Any, sql: str, params: Params | None, fmt: str) -> Any:
        if self._closed:
            raise MetricsError(self.description, "the store is closed")
        try:
            return conn.query(sql, fmt, params=dict(params or {}))
        except RuntimeError as exc:
            raise MetricsError(
                self.description, "statement failed", actual=str(exc).strip()[:800], details=sql
            ) from None

    # --- inserts -------------------------------------------------------------------------------
    def insert_calls(self, rows: Sequence[CallRow], *, token: str | None = None) -> None:
        if not rows:
            return
        columns: list[Any] = [list(c) for c in zip(*rows, strict=True)]
        # DateTime columns take unix seconds; rows of a batch share few distinct minutes.
        epochs: dict[Any, int] = {}
        columns[0] = [epochs.get(m) or epochs.setdefault(m, int(m.timestamp())) for m in columns[0]]
        self._insert("calls", CALL_COLUMNS, columns, token)

    def insert_positions(self, rows: Sequence[PositionRow], *, token: str | None = None) -> None:
        if not rows:
            return
        columns: list[Any] = [
            [_ms_text(r.ts) for r in rows],
            [r.subscriber for r in rows],
            [r.group for r in rows],
            [r.topic for r in rows],
            [r.partition for r in rows],
            [r.committed for r in rows],
            [r.end for r in rows],
        ]
        self._insert("positions", POSITION_COLUMNS, columns, token)

    def insert_audit(self, rows: Sequence[AuditRow], *, token: str | None = None) -> None:
        if not rows:
            return
        columns: list[Any] = [list(c) for c in zip(*rows, strict=True)]
        columns[0] = [_ms_text(ts) for ts in columns[0]]
        self._insert("audit_events", AUDIT_COLUMNS, columns, token)

    def insert_quality(self, rows: Sequence[QualityRow], *, token: str | None = None) -> None:
        if not rows:
            return
        columns: list[Any] = [list(c) for c in zip(*rows, strict=True)]
        columns[0] = [int(m.timestamp()) for m in columns[0]]
        changes, unmatched = QUALITY_COLUMNS.index("last_change"), QUALITY_COLUMNS.index("unmatched")
        columns[changes] = [_ms_text(ts) for ts in columns[changes]]
        columns[unmatched] = [dict(m) for m in columns[unmatched]]
        self._insert("quality", QUALITY_COLUMNS, columns, token)

    def _insert(self, table: str, names: Sequence[str], columns: list[Any], token: str | None) -> None:
        settings = ", ".join(f"{k} = {v!r}" for k, v in insert_settings(token).items())
        sql = f"INSERT INTO {self.database}.{table} ({', '.join(names)}) SETTINGS {settings}"
        # One JSON document of columns: a single orjson call, parsed column-wise by ClickHouse.
        payload = orjson.dumps(columns)
        with self._write_lock:
            if self._closed:
                raise MetricsError(self.description, "the store is closed")
            try:
                with self._write.send_insert(sql, "JSONCompactColumns") as inserter:
                    inserter.append(payload)
                    inserter.finish()
            except RuntimeError as exc:
                raise MetricsError(
                    self.description, f"insert into {table} failed", actual=str(exc).strip()[:800]
                ) from None

    def close(self) -> None:
        if self._closed:
            return
        with self._write_lock, self._read_lock:
            self._closed = True
            # The engine releases the path when its last connection closes.
            self._read.close()
            self._write.close()
        with _HELD_LOCK:
            _HELD[self.path] -= 1
            if _HELD[self.path] <= 0:
                del _HELD[self.path]


def _ms_text(ts: datetime) -> str:
    """A DateTime64(3, 'UTC') value as text: 'YYYY-MM-DD hh:mm:ss.fff' in UTC."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def locked_by_other(path: Path) -> bool:
    """True when another process holds the data path (chDB's flock on <path>/status)."""
    try:
        fd = os.open(path / "status", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def check_not_owned(path: Path) -> None:
    """Raise StoreBusyError before chDB tries (and prints its own lock error on stderr)."""
    if locked_by_other(path):
        raise busy_error(path)


def busy_error(path: Path) -> StoreBusyError:
    """The data path is locked by another process: name it (from chDB's status file) and say
    whom to ask instead."""
    owner = owner_of(path)
    return StoreBusyError(
        f"chDB metrics store {path}",
        "is owned by another process (chDB allows one process per data path)",
        expected="the process that owns the store answers metrics queries over HTTP",
        actual=owner or "a process holds the lock (its pid is not in the status file)",
        fix=(
            "ask the owner: point SHAREBUS_WEB_HOST / SHAREBUS_WEB_PORT at that worker's web server"
            " (GET /api/metrics/<query>), or stop it; to share metrics between processes use a"
            " ClickHouse server (SHAREBUS_METRICS_URL=clickhouse://host:8123/sharebus)"
        ),
    )


def owner_of(path: Path) -> str | None:
    """'pid N (command line)' of the process holding the data path, from chDB's status file."""
    try:
        status = (path / "status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    pid = next((line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("PID:")), "")
    if not pid.isdigit():
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = ""
    return f"pid {pid}" + (f" ({cmdline.strip()[:200]})" if cmdline.strip() else "")
