"""Audit events counted into the metrics, without Kafka: records → rows (malformed ones counted,
never dropped), where ingestion resumes, the tail's thread on a fake consumer (errors stop the
worker through `fatal`), the `audit` query and its shaping, both stores (an event stored twice
counts once), and `sharebus metrics audit` on an embedded store."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError, TopicPartition

from sharebus.cli.metrics import metrics
from sharebus.core.audit import ACL_GRANT, ACL_REVOKE, POLICY_WITHHOLD, event
from sharebus.core.settings import Settings, get_settings
from sharebus.testing.waiting import wait_until
from streams.metrics.audit_tail import (
    MALFORMED,
    AuditTail,
    AuditTailError,
    Source,
    audit_row,
    rows_of,
    start_offset,
    stored_next,
)
from streams.metrics.chdb_store import ChdbStore
from streams.metrics.errors import QueryArgumentError, SinkError
from streams.metrics.opening import open_store
from streams.metrics.queries import Statement, plan, shape_audit
from streams.metrics.rows import AUDIT_COLUMNS, AuditRow
from streams.metrics.server_store import ServerStore
from streams.metrics.sink import MetricsSink
from streams.metrics.store import MetricsStore

SOURCE = Source("sharebus.audit", "vkvJrNOGQVOeVsXmuf8fHg")
AT = datetime(2026, 3, 10, 8, 30, 15, 250000, tzinfo=UTC)


@dataclass
class FakeMessage:
    payload: bytes | None = None
    at_offset: int = 0
    err: KafkaError | None = None
    stamp_ms: int = 0

    def error(self) -> KafkaError | None:
        return self.err

    def value(self) -> bytes | None:
        return self.payload

    def partition(self) -> int | None:
        return 0

    def offset(self) -> int | None:
        return self.at_offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self.stamp_ms)


def record(action: str = ACL_GRANT, subject: str = "500101", *, count: int = 1, at: datetime = AT) -> bytes:
    settings = Settings()
    ev = event(
        settings,
        action,
        subject,
        f"share.{subject}.market.enterprise",
        catalog_version="v7",
        count=count,
        at=at,
    )
    return orjson.dumps(ev.to_dict())


def msg(payload: bytes | None, offset: int, **kw: Any) -> FakeMessage:
    return FakeMessage(payload, offset, **kw)


# --- records → rows ------------------------------------------------------------------------------
def test_an_audit_record_becomes_a_row_dated_by_its_at() -> None:
    row = audit_row(msg(record(POLICY_WITHHOLD, "500102", count=42), 17), SOURCE)
    assert row == AuditRow(
        AT,
        POLICY_WITHHOLD,
        "500102",
        "share.500102.market.enterprise",
        "v7",
        42,
        SOURCE.topic,
        SOURCE.topic_id,
        0,
        17,
    )
    assert len(row) == len(AUDIT_COLUMNS), "one field per inserted column, in order"
    naive = orjson.loads(record())
    naive.update(at="2026-03-10T08:30:15", catalog_version=None)
    del naive["count"]  # written before count existed: one
    row = audit_row(msg(orjson.dumps(naive), 3), SOURCE)
    assert (row.ts, row.catalog_version, row.amount) == (AT.replace(microsecond=0), "", 1)
    zulu = {**naive, "at": "2026-03-10T16:30:15+08:00"}
    assert audit_row(msg(orjson.dumps(zulu), 4), SOURCE).ts == AT.replace(microsecond=0)


def grant(**fields: Any) -> bytes:
    return orjson.dumps({"action": "acl.grant", "subject": "x", "target": "y", "at": "2026-03-10", **fields})


@pytest.mark.parametrize(
    "payload",
    [
        None,
        b"{garbage",
        b"[1, 2]",
        orjson.dumps({"subject": "x", "target": "y", "at": "2026-03-10T08:30:00Z"}),  # no action
        grant(subject=5),
        grant(at="yesterday"),
        grant(count=-1),
        grant(count=1.5),
        grant(count=True),
        grant(catalog_version=7),
    ],
)
def test_a_record_that_is_not_an_audit_event_is_counted_as_malformed(
    payload: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sharebus.metrics.audit"):
        row = audit_row(msg(payload, 9, stamp_ms=int(AT.timestamp() * 1000)), SOURCE)
    assert (row.action, row.amount, row.offset, row.ts) == (MALFORMED, 1, 9, AT.replace(microsecond=250000))
    assert "sharebus.audit[0]@9 is not an audit event" in caplog.text


def test_rows_of_skips_end_of_partition_and_refuses_an_authorization_error() -> None:
    eof = KafkaError(KafkaError._PARTITION_EOF)
    rows = rows_of([msg(record(), 0), msg(None, 1, err=eof), msg(record(ACL_REVOKE), 1)], SOURCE)
    assert [r.action for r in rows] == [ACL_GRANT, ACL_REVOKE]
    transport = KafkaError(KafkaError._TRANSPORT, retriable=True)
    assert rows_of([msg(None, 0, err=transport)], SOURCE) == []
    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed")
    with pytest.raises(AuditTailError) as err:
        rows_of([msg(record(), 0), msg(None, 1, err=denied)], SOURCE)
    assert "authorization" in (err.value.actual or "").lower() and "acl sync" in (err.value.fix or "")
    reset = KafkaError(KafkaError._AUTO_OFFSET_RESET, "offset out of range")
    with pytest.raises(AuditTailError):
        rows_of([msg(None, 0, err=reset)], SOURCE)


# --- where ingestion resumes ---------------------------------------------------------------------
def test_start_offset_resumes_after_what_is_stored() -> None:
    assert start_offset(None, 0, 50, SOURCE) == 0, "nothing stored: from the beginning"
    assert start_offset(None, 7, 50, SOURCE) == 7
    assert start_offset(31, 0, 50, SOURCE) == 31
    assert start_offset(50, 0, 50, SOURCE) == 50, "all counted: wait for the next"
    assert start_offset(3, 10, 50, SOURCE) == 10, "deleted before counted: from the first there is"
    with pytest.raises(AuditTailError) as err:
        start_offset(61, 0, 50, SOURCE)
    assert "audit_events" in (err.value.fix or "")


# --- the tail on a fake consumer -----------------------------------------------------------------
@dataclass
class FakeConsumer:
    """Serves `batches` in order, at most `num_messages` per consume() and never across two
    batches (each batch is what the client has fetched at a time); `low`/`high` are the
    watermarks."""

    batches: list[list[FakeMessage]]
    low: int = 0
    high: int = 0
    assigned: list[TopicPartition] = field(default_factory=list)
    closed: bool = False
    between: bool = False

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        return self.low, self.high

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def consume(self, num_messages: int, timeout: float) -> Sequence[FakeMessage]:
        if not self.batches or self.between:
            self.between = False
            time.sleep(min(timeout, 0.01))
            return []
        out, self.batches[0] = self.batches[0][:num_messages], self.batches[0][num_messages:]
        if not self.batches[0]:
            self.batches.pop(0)
            self.between = True  # the next batch is not fetched yet
        return out

    def close(self) -> None:
        self.closed = True


class StoredOffsets:
    """A store answering the resume query with `next_offset` (None: nothing stored)."""

    database = "sharebus"
    description = "fake store"

    def __init__(self, next_offset: int | None) -> None:
        self.next_offset = next_offset
        self.asked: list[dict[str, Any]] = []

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        assert "max(source_offset) + 1" in sql and "sharebus.audit_events" in sql
        self.asked.append(dict(params))
        return [] if self.next_offset is None else [{"partition_id": 0, "next_offset": self.next_offset}]


def tail_of(
    consumer: FakeConsumer, stored: int | None, add: Callable[[list[AuditRow]], None]
) -> tuple[AuditTail, list[BaseException], StoredOffsets]:
    fatal: list[BaseException] = []
    store = StoredOffsets(stored)
    tail = AuditTail(
        store,
        add,
        fatal.append,
        topic=SOURCE.topic,
        consumer=lambda: consumer,
        topic_id=lambda: SOURCE.topic_id,
        poll_seconds=0.01,
    )
    return tail, fatal, store


def test_the_tail_resumes_after_the_stored_offset_and_hands_every_batch_on() -> None:
    consumer = FakeConsumer([[msg(record(), 40), msg(b"{bad", 41)], [msg(record(ACL_REVOKE), 42)]], high=43)
    added: list[list[AuditRow]] = []
    tail, fatal, store = tail_of(consumer, 40, added.append)
    tail.start()
    wait_until(lambda: sum(map(len, added)) == 3, 5.0, "3 audit rows handed on", interval=0.01)
    tail.stop()
    assert not tail.running and consumer.closed and fatal == []
    assert store.asked == [{"topic": SOURCE.topic, "topic_id": SOURCE.topic_id}]
    assert [(tp.topic, tp.partition, tp.offset) for tp in consumer.assigned] == [(SOURCE.topic, 0, 40)]
    assert [[r.offset for r in batch] for batch in added] == [[40, 41], [42]]
    assert [r.action for batch in added for r in batch] == [ACL_GRANT, MALFORMED, ACL_REVOKE]
    assert (tail.stats.events, tail.stats.malformed, tail.stats.next_offset) == (3, 1, 43)


def test_a_lone_event_is_not_held_back_waiting_for_a_full_batch() -> None:
    asked: list[tuple[int, float]] = []

    class Recording(FakeConsumer):
        def consume(self, num_messages: int, timeout: float) -> Sequence[FakeMessage]:
            asked.append((num_messages, timeout))
            return super().consume(num_messages, timeout)

    added: list[list[AuditRow]] = []
    tail, _, _ = tail_of(Recording([[msg(record(), 0), msg(record(), 1)]], high=2), None, added.append)
    tail.start()
    wait_until(lambda: bool(added), 5.0, "a batch handed on", interval=0.01)
    tail.stop()
    # Wait for one record (up to the poll time), then take what is already there without waiting.
    assert asked[:2] == [(1, 0.01), (499, 0)] and [r.offset for r in added[0]] == [0, 1]


def test_an_empty_store_reads_from_the_beginning() -> None:
    consumer = FakeConsumer([], low=5, high=9)
    tail, fatal, _ = tail_of(consumer, None, lambda rows: None)
    tail.start()
    assert tail.started.wait(5)
    tail.stop()
    assert consumer.assigned[0].offset == 5 and fatal == []


def test_a_read_error_stops_the_worker_through_fatal() -> None:
    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed")
    consumer = FakeConsumer([[msg(record(), 0)], [msg(None, 1, err=denied)]], high=5)
    added: list[list[AuditRow]] = []
    tail, fatal, _ = tail_of(consumer, None, added.append)
    tail.start()
    wait_until(lambda: not tail.running, 5.0, "the tail to stop", interval=0.01)
    assert len(fatal) == 1 and isinstance(fatal[0], AuditTailError) and tail.error is fatal[0]
    assert consumer.closed and [r.offset for batch in added for r in batch] == [0]


def test_a_failed_sink_stops_the_tail_and_an_unexpected_error_is_wrapped() -> None:
    broken = SinkError("metrics sink", "could not store 1 audit rows after 4 attempts")

    def add(rows: list[AuditRow]) -> None:
        raise broken

    tail, fatal, _ = tail_of(FakeConsumer([[msg(record(), 0)]], high=1), None, add)
    tail.start()
    wait_until(lambda: not tail.running, 5.0, "the tail to stop", interval=0.01)
    assert fatal == [broken]

    def explode() -> str:
        raise RuntimeError("no metadata")

    fatal2: list[BaseException] = []
    tail2 = AuditTail(
        StoredOffsets(None),
        lambda rows: None,
        fatal2.append,
        topic=SOURCE.topic,
        consumer=lambda: FakeConsumer([]),
        topic_id=explode,
    )
    tail2.start()
    wait_until(lambda: not tail2.running, 5.0, "the tail to stop", interval=0.01)
    assert isinstance(fatal2[0], AuditTailError) and "no metadata" in (fatal2[0].actual or "")


def test_a_store_past_the_end_of_the_topic_stops_the_tail() -> None:
    consumer = FakeConsumer([], high=10)
    tail, fatal, _ = tail_of(consumer, 25, lambda rows: None)
    tail.start()
    wait_until(lambda: not tail.running, 5.0, "the tail to stop", interval=0.01)
    assert isinstance(fatal[0], AuditTailError) and consumer.closed and not tail.started.is_set()


def test_rows_go_through_the_sink_into_the_store() -> None:
    class Recording(MetricsStore):
        database, description = "sharebus", "recording store"

        def __init__(self) -> None:
            self.audit: list[tuple[list[AuditRow], str | None]] = []

        def command(self, sql: str, params: Any = None) -> None: ...

        def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
            return []

        def insert_calls(self, rows: Any, *, token: str | None = None) -> None: ...

        def insert_positions(self, rows: Any, *, token: str | None = None) -> None: ...

        def insert_quality(self, rows: Any, *, token: str | None = None) -> None: ...

        def insert_audit(self, rows: Sequence[AuditRow], *, token: str | None = None) -> None:
            self.audit.append((list(rows), token))

        def close(self) -> None: ...

    store = Recording()
    with MetricsSink(store, max_delay=0.05) as sink:
        rows = rows_of([msg(record(), 0), msg(record(ACL_REVOKE), 1)], SOURCE)
        sink.add_audit(rows)
        sink.flush()
        assert store.audit[0][0] == rows and store.audit[0][1] and sink.stats.audit_rows == 2


# --- the query -----------------------------------------------------------------------------------
NOW = datetime(2026, 3, 10, 9, 0, 5, tzinfo=UTC)


def test_the_audit_plan_sums_count_per_by_and_action_reading_final() -> None:
    p = plan("audit", {}, database="metrics", now=NOW)
    statement = p.statements["audit"]
    assert isinstance(statement, Statement)
    assert "FROM metrics.audit_events FINAL" in statement.sql and "sum(count)" in statement.sql
    assert "action AS key" in statement.sql and statement.sql.rstrip().endswith("GROUP BY action")
    assert statement.params == {"since": "2026-03-09 09:00:05"}
    by_subject = plan("audit", {"by": "subject", "since": "15m"}, database="metrics", now=NOW)
    sql = by_subject.statements["audit"]
    assert isinstance(sql, Statement) and "GROUP BY subject, action" in sql.sql
    assert sql.params == {"since": "2026-03-10 08:45:05"}
    with pytest.raises(QueryArgumentError):
        plan("audit", {"by": "actor"}, database="metrics", now=NOW)
    with pytest.raises(QueryArgumentError):
        plan("audit", {"since": "yesterday"}, database="metrics", now=NOW)


def test_shape_audit_orders_by_count_and_totals() -> None:
    rows = [
        {"key": "500101", "action": ACL_GRANT, "n": 2, "events": 2},
        {"key": "500102", "action": POLICY_WITHHOLD, "n": 40, "events": 3},
        {"key": "500101", "action": ACL_REVOKE, "n": 1, "events": 1},
        {"key": "500102", "action": ACL_GRANT, "n": 1, "events": 1},
        {"key": "500103", "action": ACL_GRANT, "n": 3, "events": 3},
    ]
    report = shape_audit(rows, by="subject", start=NOW - timedelta(hours=24), now=NOW)
    assert report["totals"] == {"count": 47, "events": 10}
    assert (report["since"], report["until"]) == ("2026-03-09T09:00:05Z", "2026-03-10T09:00:05Z")
    assert report["by"] == "subject"
    assert report["rows"] == [
        {"subject": "500102", "count": 41, "events": 4, "actions": {POLICY_WITHHOLD: 40, ACL_GRANT: 1}},
        {"subject": "500101", "count": 3, "events": 3, "actions": {ACL_GRANT: 2, ACL_REVOKE: 1}},
        {"subject": "500103", "count": 3, "events": 3, "actions": {ACL_GRANT: 3}},
    ]
    assert shape_audit([], by="action", start=NOW, now=NOW)["totals"] == {"count": 0, "events": 0}


# --- both stores -----------------------------------------------------------------------------------
@pytest.fixture(params=["chdb", "clickhouse-connect"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricsStore]:
    store: MetricsStore
    if request.param == "chdb":
        store = ChdbStore(tmp_path / "metrics")
    else:
        import clickhouse_connect

        store = ServerStore(clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "cc")))
    try:
        store.apply_ddl()
        yield store
    finally:
        store.close()  # chDB: one data path per process; the next test opens another


def test_both_stores_count_audit_events_once_and_know_where_to_resume(any_store: MetricsStore) -> None:
    now = datetime.now(UTC)
    rows = rows_of(
        [
            msg(record(ACL_GRANT, "500101", at=now - timedelta(minutes=5)), 0),
            msg(record(POLICY_WITHHOLD, "500102", count=40, at=now - timedelta(minutes=4)), 1),
            msg(record(ACL_GRANT, "500102", at=now - timedelta(minutes=3)), 2),
            msg(record(ACL_REVOKE, "500101", at=now - timedelta(days=2)), 3),
        ],
        SOURCE,
    )
    any_store.insert_audit(rows)
    any_store.insert_audit(rows[1:3])  # a second worker on the same server: stored again, counted once
    assert stored_next(any_store, SOURCE) == 4
    assert stored_next(any_store, Source(SOURCE.topic, "a-recreated-topic")) is None
    report = plan("audit", {}, database=any_store.database, now=now).run(any_store)
    assert report["totals"] == {"count": 42, "events": 3}, "the 2-day-old revoke is outside 24h"
    assert [(r["action"], r["count"], r["events"]) for r in report["rows"]] == [
        (POLICY_WITHHOLD, 40, 1),
        (ACL_GRANT, 2, 2),
    ]
    week_plan = plan("audit", {"by": "subject", "since": "7d"}, database=any_store.database, now=now)
    week = week_plan.run(any_store)
    assert {r["subject"]: r["actions"] for r in week["rows"]} == {
        "500102": {POLICY_WITHHOLD: 40, ACL_GRANT: 1},
        "500101": {ACL_GRANT: 1, ACL_REVOKE: 1},
    }
    stored = any_store.query(
        "SELECT toString(ts) AS ts, catalog_version FROM sharebus.audit_events WHERE source_offset = 0"
    )
    assert stored == [{"ts": rows[0].ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "catalog_version": "v7"}]


# --- the CLI ---------------------------------------------------------------------------------------
@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens on it: the CLI opens the store
    monkeypatch.setenv("SHAREBUS_METRICS_URL", f"chdb://{tmp_path / 'metrics'}")
    monkeypatch.setenv("SHAREBUS_WEB_HOST", "127.0.0.1")
    monkeypatch.setenv("SHAREBUS_WEB_PORT", str(port))
    get_settings.cache_clear()
    settings = get_settings()
    now = datetime.now(UTC)
    with open_store(settings) as store:
        store.insert_audit(
            rows_of(
                [
                    msg(record(ACL_GRANT, "500101", at=now), 0),
                    msg(record(ACL_GRANT, "500102", at=now), 1),
                    msg(record(POLICY_WITHHOLD, "500102", count=12, at=now), 2),
                    msg(b"{bad", 3, stamp_ms=1),
                ],
                SOURCE,
            )
        )
    yield settings
    get_settings.cache_clear()


def test_cli_audit_table_and_json(cli_env: Settings) -> None:
    result = CliRunner().invoke(metrics, ["audit"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("audit events by action, ")
    assert lines[0].endswith(": 14 counted in 3 audit records")
    assert lines[1].split() == ["action", "count", "records"]
    assert lines[3].split() == [POLICY_WITHHOLD, "12", "1"] and lines[4].split() == [ACL_GRANT, "2", "2"]
    assert lines[-1].split() == ["total", "14", "3"]
    assert MALFORMED not in result.output, "its Kafka timestamp (1970) is outside the window"
    result = CliRunner().invoke(metrics, ["audit", "--by", "subject", "--since", "1h", "--json"])
    report = json.loads(result.output)
    assert report["query"] == "audit" and report["by"] == "subject"
    assert report["rows"][0] == {
        "subject": "500102",
        "count": 13,
        "events": 2,
        "actions": {POLICY_WITHHOLD: 12, ACL_GRANT: 1},
    }
    result = CliRunner().invoke(metrics, ["audit", "--by", "subject"])
    assert "policy.withhold 12, acl.grant 1" in result.output
    result = CliRunner().invoke(metrics, ["audit", "--since", "all"])
    assert result.exit_code == 2 and "--since: is not a duration" in result.output
