"""The metrics sink on a recording fake store: batching by count and by time, flush and close,
bounded retries with one deduplication token, and a failure that is never silent."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest

from sharebus.testing.waiting import wait_until
from streams.metrics.errors import MetricRowError, MetricsError, SinkError
from streams.metrics.rows import AuditRow, CallRow, PositionRow, QualityRow
from streams.metrics.sink import MetricsSink
from streams.metrics.store import MetricsStore, Params

MINUTE = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)


class FakeStore(MetricsStore):
    """Records each insert (rows, token, monotonic time); fails the first `failures` inserts."""

    def __init__(self, *, failures: int = 0, delay: float = 0.0) -> None:
        self.database = "sharebus"
        self.description = "fake store"
        self.failures = failures
        self.delay = delay
        self.calls: list[tuple[list[CallRow], str | None, float]] = []
        self.positions: list[tuple[list[PositionRow], str | None]] = []
        self.audit: list[tuple[list[AuditRow], str | None]] = []
        self.quality: list[tuple[list[QualityRow], str | None]] = []
        self.attempts: list[str | None] = []
        self.inserted = threading.Event()

    def command(self, sql: str, params: Params | None = None) -> None:
        raise AssertionError("the sink never runs statements")

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, object]]:
        raise AssertionError("the sink never queries")

    def insert_calls(self, rows: Sequence[CallRow], *, token: str | None = None) -> None:
        self.attempts.append(token)
        time.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.calls.append((list(rows), token, time.monotonic()))
        self.inserted.set()

    def insert_positions(self, rows: Sequence[PositionRow], *, token: str | None = None) -> None:
        self.positions.append((list(rows), token))

    def insert_audit(self, rows: Sequence[AuditRow], *, token: str | None = None) -> None:
        self.audit.append((list(rows), token))

    def insert_quality(self, rows: Sequence[QualityRow], *, token: str | None = None) -> None:
        self.quality.append((list(rows), token))

    def close(self) -> None:
        pass

    @property
    def rows(self) -> int:
        return sum(len(batch) for batch, _, _ in self.calls)


def _rows(n: int, outcome: str = "delivered") -> list[CallRow]:
    return [
        CallRow(
            MINUTE,
            "market",
            "market.enterprise",
            str(500100 + i % 40),
            "u",
            outcome,
            "shared_unconditional",
            1,
            100,
            (5.0,),
        )
        for i in range(n)
    ]


@pytest.fixture
def make_sink() -> Iterator[Callable[..., MetricsSink]]:
    sinks: list[MetricsSink] = []

    def make(store: MetricsStore, **kwargs: object) -> MetricsSink:
        sink = MetricsSink(store, **kwargs)  # type: ignore[arg-type]
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        with contextlib.suppress(MetricsError):
            sink.close(timeout=5)


def test_a_full_batch_is_inserted_at_once_not_after_the_delay(make_sink: Callable[..., MetricsSink]) -> None:
    store = FakeStore()
    sink = make_sink(store, max_rows=100, max_delay=30.0)
    started = time.monotonic()
    sink.add(_rows(60))
    time.sleep(0.2)
    assert store.calls == [], "below max_rows and before max_delay: nothing inserted yet"
    sink.add(_rows(60))
    wait_until(lambda: store.rows == 120, 2.0, "120 rows stored", interval=0.01)
    assert len(store.calls) == 1 and store.calls[0][2] - started < 2.0


def test_a_partial_batch_is_inserted_after_max_delay(make_sink: Callable[..., MetricsSink]) -> None:
    store = FakeStore()
    sink = make_sink(store, max_rows=1000, max_delay=0.3)
    added = time.monotonic()
    sink.add(_rows(5))
    wait_until(lambda: store.rows == 5, 3.0, "5 rows stored", interval=0.01)
    waited = store.calls[0][2] - added
    assert 0.25 <= waited < 1.5, waited
    sink.add(_rows(3))
    wait_until(lambda: store.rows == 8, 3.0, "the next row stored (the timer restarts)", interval=0.01)


def test_flush_stores_everything_added_before_it(make_sink: Callable[..., MetricsSink]) -> None:
    store = FakeStore()
    sink = make_sink(store, max_rows=1000, max_delay=60.0)
    sink.add(_rows(7))
    sink.add_positions([PositionRow(MINUTE, "500101", "share.500101.market.enterprise", 0, 1, 2, "500101.s")])
    sink.flush()
    assert store.rows == 7 and len(store.positions) == 1
    assert sink.pending == 0 and sink.stats.call_rows == 7 and sink.stats.position_rows == 1
    sink.flush()  # nothing buffered: returns at once


def test_close_flushes_and_then_refuses_rows(make_sink: Callable[..., MetricsSink]) -> None:
    store = FakeStore()
    sink = make_sink(store, max_rows=1000, max_delay=60.0)
    sink.add(_rows(4))
    sink.close()
    assert store.rows == 4
    with pytest.raises(MetricsError, match="closed"):
        sink.add(_rows(1))
    sink.close()  # idempotent


def test_a_transient_failure_is_retried_with_the_same_token(make_sink: Callable[..., MetricsSink]) -> None:
    store = FakeStore(failures=2)
    sink = make_sink(store, max_rows=10, max_delay=60.0, attempts=4, backoff=0.01)
    sink.add(_rows(10))
    sink.flush()
    assert store.rows == 10 and len(store.calls) == 1
    assert len(store.attempts) == 3 and len(set(store.attempts)) == 1 and store.attempts[0]
    assert sink.stats.retries == 2 and sink.error is None


def test_a_lasting_failure_is_raised_loudly_and_never_dropped(make_sink: Callable[..., MetricsSink]) -> None:
    store = FakeStore(failures=100)
    seen: list[SinkError] = []
    sink = make_sink(store, max_rows=10, max_delay=60.0, attempts=3, backoff=0.01, on_error=seen.append)
    sink.add(_rows(10))
    with pytest.raises(SinkError) as err:
        sink.flush()
    assert len(store.attempts) == 3, "bounded: attempts, not forever"
    assert "after 3 attempts" in err.value.problem and "disk full" in (err.value.actual or "")
    assert "must stop" in (err.value.fix or "")
    assert seen == [err.value] and sink.error is err.value
    with pytest.raises(SinkError):
        sink.add(_rows(1))
    with pytest.raises(SinkError):
        sink.close()
    assert err.value.exit_code != 0


def test_malformed_rows_are_refused_at_add(make_sink: Callable[..., MetricsSink]) -> None:
    sink = make_sink(FakeStore())
    with pytest.raises(MetricRowError, match="unknown outcome"):
        sink.add(_rows(1, outcome="sent"))
    naive = CallRow(datetime(2026, 3, 10, 8, 30), "m", "m.r", "", "c", "dead_letter", "x", 1, 1)
    with pytest.raises(MetricRowError, match="naive"):
        sink.add([naive])
    assert sink.pending == 0


def test_add_never_waits_for_a_slow_insert_even_on_an_event_loop(
    make_sink: Callable[..., MetricsSink],
) -> None:
    store = FakeStore(delay=0.5)
    sink = make_sink(store, max_rows=1, max_delay=0.05)

    async def route() -> float:
        worst = 0.0
        for _ in range(50):
            t0 = time.perf_counter()
            sink.add(_rows(1))  # what a Faust agent does per batch
            worst = max(worst, time.perf_counter() - t0)
            await asyncio.sleep(0.005)
        return worst

    worst = asyncio.run(route())
    assert worst < 0.05, f"add blocked for {worst:.3f}s while the store was inserting"
    sink.flush()
    assert store.rows == 50
    assert len(store.calls) < 50, "rows that arrived during an insert go in the next batch together"


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        MetricsSink(FakeStore(), max_rows=0)
