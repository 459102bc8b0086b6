"""The metrics sink: buffers metric rows and inserts them in batches from a background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from streams.metrics.errors import MetricsError, SinkError
from streams.metrics.rows import AuditRow, CallRow, PositionRow, QualityRow, check_call_row
from streams.metrics.store import MetricsStore, new_token

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SinkStats:
    """Counters of a sink (for the worker's /metrics)."""

    call_rows: int = 0
    position_rows: int = 0
    audit_rows: int = 0
    quality_rows: int = 0
    batches: int = 0
    retries: int = 0
    last_insert_seconds: float = 0.0


class MetricsSink:
    """Batches rows into the store: a flush happens when ≥ `max_rows` rows are buffered or the
    oldest buffered row is `max_delay` seconds old, so a row is stored within ~`max_delay` s.

    - `add()` / `add_positions()` / `add_audit()` only append under a lock: they never wait for
      I/O, so they are safe on an asyncio event loop (a Faust agent) as well as from plain threads.
    - One daemon thread does every insert. A failed insert is retried `attempts - 1` times with
      the same deduplication token (a retry that had in fact succeeded is stored once); if all
      attempts fail, `error` is set, `on_error` is called (from the sink thread), and every later
      `add`, `flush` and `close` raises it: metrics are never dropped silently — the owner must
      crash (exit non-zero) and restart.
    - `flush()` and `close()` block until the rows added before them are stored: from asyncio,
      run them in an executor.
    """

    def __init__(
        self,
        store: MetricsStore,
        *,
        max_rows: int = 1000,
        max_delay: float = 1.0,
        attempts: int = 4,
        backoff: float = 0.5,
        on_error: Callable[[SinkError], None] | None = None,
    ) -> None:
        if max_rows < 1 or max_delay <= 0 or attempts < 1:
            raise ValueError("max_rows >= 1, max_delay > 0 and attempts >= 1 are required")
        self.store = store
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.attempts = attempts
        self.backoff = backoff
        self.on_error = on_error
        self.error: SinkError | None = None
        self._failed = False  # set after `error` was reported to `on_error`
        self.stats = SinkStats()
        self._cond = threading.Condition()
        self._calls: list[CallRow] = []
        self._positions: list[PositionRow] = []
        self._audit: list[AuditRow] = []
        self._quality: list[QualityRow] = []
        self._oldest: float | None = None  # monotonic time the oldest buffered row arrived
        self._requested = 0  # flush tickets handed out …
        self._done = 0  # … and the highest ticket whose rows are stored
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="metrics-sink", daemon=True)
        self._thread.start()

    # --- producers -----------------------------------------------------------------------------
    def add(self, rows: Iterable[CallRow]) -> None:
        """Buffer call rows (cheap; raises the sink's error once it has failed)."""
        batch = list(rows)
        for row in batch:
            check_call_row(row)
        self._append(batch, [], [])

    def add_positions(self, rows: Iterable[PositionRow]) -> None:
        """Buffer sampled consumer positions."""
        self._append([], list(rows), [])

    def add_audit(self, rows: Iterable[AuditRow]) -> None:
        """Buffer audit events. Stored in the order they were added, and nothing after a failed
        insert: ingestion resumes after the highest offset stored."""
        self._append([], [], list(rows))

    def add_quality(self, rows: Iterable[QualityRow]) -> None:
        """Buffer per-minute quality figures."""
        self._append([], [], [], list(rows))

    def _append(
        self,
        calls: list[CallRow],
        positions: list[PositionRow],
        audit: list[AuditRow],
        quality: list[QualityRow] | None = None,
    ) -> None:
        if self.error is not None:
            raise self.error
        if not calls and not positions and not audit and not quality:
            return
        with self._cond:
            if self._closing:
                raise MetricsError("metrics sink", "is closed", fix="add rows before close()")
            first = self._oldest is None
            if first:
                self._oldest = time.monotonic()
            self._calls.extend(calls)
            self._positions.extend(positions)
            self._audit.extend(audit)
            self._quality.extend(quality or ())
            # Wake the thread when its timer must start (the buffer was empty) or a batch is full.
            if first or self._buffered() >= self.max_rows:
                self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return self._buffered()

    def _buffered(self) -> int:
        return len(self._calls) + len(self._positions) + len(self._audit) + len(self._quality)

    # --- owner ---------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 60.0) -> None:
        """Store every row added before this call; raise the sink's error if storing failed."""
        with self._cond:
            self._requested += 1
            ticket = self._requested
            self._cond.notify_all()
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._done < ticket and not self._failed and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise MetricsError(
                        "metrics sink",
                        f"flush did not finish within {timeout} s",
                        fix="check the metrics store; the sink thread is still inserting",
                    )
                self._cond.wait(left if left is not None else 1.0)
        if self.error is not None:
            raise self.error

    def close(self, timeout: float | None = 60.0) -> None:
        """Flush what is buffered and stop the thread (the store stays open: its owner closes it)."""
        with self._cond:
            already = self._closing
            self._closing = True
            self._cond.notify_all()
        if not already:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        if self._thread.is_alive():
            raise MetricsError(
                "metrics sink",
                f"close did not finish within {timeout} s",
                actual=f"{self.pending} rows still buffered",
            )

    def __enter__(self) -> MetricsSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the sink thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due():
                    self._cond.wait(self._wait_time())
                calls, self._calls = self._calls, []
                positions, self._positions = self._positions, []
                audit, self._audit = self._audit, []
                quality, self._quality = self._quality, []
                self._oldest = None
                ticket = self._requested  # every flush() asked so far is covered by this swap
                closing = self._closing
            try:
                self._store(calls, positions, audit, quality)
            except Exception as exc:  # the thread must never die silently
                error = (
                    exc
                    if isinstance(exc, SinkError)
                    else SinkError(
                        "metrics sink",
                        "failed unexpectedly",
                        actual=repr(exc)[:500],
                        fix="a bug: report it; the worker must stop (metrics would be lost)",
                    )
                )
                self.error = error  # from now on add() raises it
                log.error("%s", error.render())
                if self.on_error is not None:
                    try:
                        self.on_error(error)
                    except Exception:
                        log.exception("the metrics sink's on_error callback failed")
                with self._cond:  # waiters in flush() raise it only once the owner was told
                    self._failed = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._done = max(self._done, ticket)
                self._cond.notify_all()
                if closing and not self._buffered():
                    return

    def _due(self) -> bool:
        pending = self._buffered()
        if self._closing or self._requested > self._done or pending >= self.max_rows:
            return True
        return pending > 0 and self._oldest is not None and time.monotonic() - self._oldest >= self.max_delay

    def _wait_time(self) -> float | None:
        if self._oldest is None:
            return None
        return max(0.0, self.max_delay - (time.monotonic() - self._oldest))

    def _store(
        self,
        calls: list[CallRow],
        positions: list[PositionRow],
        audit: list[AuditRow],
        quality: list[QualityRow],
    ) -> None:
        if calls:
            self._with_retries("call", len(calls), lambda token: self.store.insert_calls(calls, token=token))
            self.stats.call_rows += len(calls)
        if positions:
            self._with_retries(
                "position", len(positions), lambda token: self.store.insert_positions(positions, token=token)
            )
            self.stats.position_rows += len(positions)
        if audit:
            self._with_retries("audit", len(audit), lambda token: self.store.insert_audit(audit, token=token))
            self.stats.audit_rows += len(audit)
        if quality:
            self._with_retries(
                "quality", len(quality), lambda token: self.store.insert_quality(quality, token=token)
            )
            self.stats.quality_rows += len(quality)

    def _with_retries(self, kind: str, count: int, insert: Callable[[str], None]) -> None:
        token = new_token()  # the same token on every attempt: a retry is stored at most once
        for attempt in range(1, self.attempts + 1):
            started = time.monotonic()
            try:
                insert(token)
            except Exception as exc:
                if attempt == self.attempts:
                    raise SinkError(
                        f"metrics sink → {self.store.description}",
                        f"could not store {count} {kind} rows after {attempt} attempts",
                        actual=str(exc).strip().splitlines()[0][:500] if str(exc).strip() else repr(exc),
                        fix="the worker must stop (metrics would be lost): fix the metrics store"
                        " (disk, server, SHAREBUS_METRICS_URL) and restart it",
                    ) from exc
                self.stats.retries += 1
                log.warning("metrics insert attempt %d/%d failed: %s", attempt, self.attempts, exc)
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            self.stats.batches += 1
            self.stats.last_insert_seconds = time.monotonic() - started
            return
