"""Audit events into the metrics: the worker tails the audit topic as the router principal and
stores one `audit_events` row per record, resuming after the highest offset already stored.

The consumer is assign-only with explicit start offsets and never commits: where it is lies in
the store, not in Kafka. (Its group id, `<router id>.audit-tail`, is inside the router's group
grants anyway.) Records are read by `(topic, topic id)`: a topic deleted and created again
starts from its beginning, not after offsets of the old one. A record that is not an audit event
is counted under the action `malformed` and logged, never skipped; a failure that stops the
reading (an authorization error, an offset out of range, the store) stops the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
from confluent_kafka import Consumer, KafkaError, TopicCollection, TopicPartition

from sharebus.core.errors import SharebusError
from sharebus.core.kafka_clients import Role, admin_client, kafka_config
from sharebus.core.outage import KafkaWatch
from sharebus.core.settings import Settings
from streams.metrics.errors import MetricsError
from streams.metrics.migrations import check_database_name
from streams.metrics.rows import AuditRow

T = TypeVar("T")

log = logging.getLogger("sharebus.metrics.audit")

MALFORMED = "malformed"
"""The action a record of the audit topic is counted under when it is not an audit event."""

GROUP_SUFFIX = ".audit-tail"
BATCH = 500
POLL_SECONDS = 0.5


class MessageLike(Protocol):
    """What the tail reads of a confluent-kafka `Message`."""

    def error(self) -> KafkaError | None: ...

    def value(self) -> bytes | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...

    def timestamp(self) -> tuple[int, int]: ...


class ConsumerLike(Protocol):
    """The part of confluent-kafka's `Consumer` the tail uses (a fake in unit tests)."""

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]: ...

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> Sequence[MessageLike]: ...

    def close(self) -> None: ...


class QueryableStore(Protocol):
    database: str
    description: str

    def query(
        self, sql: str, params: Mapping[str, str | int | float] | None = None
    ) -> list[dict[str, Any]]: ...


class AuditTailError(MetricsError):
    """Reading the audit topic into the metrics stopped: the worker must stop."""


# --- records → rows ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Source:
    """The partition read: topic, its Kafka topic id, partition."""

    topic: str
    topic_id: str
    partition: int = 0


def audit_row(msg: MessageLike, source: Source) -> AuditRow:
    """The row of one audit record; a record that is not an audit event (not a JSON object, a
    field missing or of the wrong type, `at` not an ISO time) is a `malformed` row counting 1,
    dated by its Kafka timestamp, and a warning."""
    offset = int(msg.offset() or 0)
    try:
        return _event_row(msg.value(), source, offset)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning(
            "audit record %s[%d]@%d is not an audit event (%s): counted as %r",
            source.topic,
            source.partition,
            offset,
            exc,
            MALFORMED,
        )
        _, stamp_ms = msg.timestamp()
        ts = datetime.fromtimestamp(stamp_ms / 1000, UTC) if stamp_ms > 0 else datetime.now(UTC)
        return AuditRow(ts, MALFORMED, "", "", "", 1, source.topic, source.topic_id, source.partition, offset)


def _event_row(value: bytes | None, source: Source, offset: int) -> AuditRow:
    data = orjson.loads(value or b"")
    if not isinstance(data, dict):
        raise TypeError(f"a JSON {type(data).__name__}, not an object")
    action, subject, target = (_text(data, k) for k in ("action", "subject", "target"))
    if not action:
        raise ValueError("no action")
    version = data.get("catalog_version")
    if version is not None and not isinstance(version, str):
        raise TypeError("catalog_version is not a string")
    count = data.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count {count!r} is not a whole number >= 0")
    ts = datetime.fromisoformat(_text(data, "at"))
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return AuditRow(
        ts,
        action,
        subject,
        target,
        version or "",
        count,
        source.topic,
        source.topic_id,
        source.partition,
        offset,
    )


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def rows_of(
    messages: Iterable[MessageLike], source: Source, watch: KafkaWatch | None = None
) -> list[AuditRow]:
    """The rows of a batch of consumed messages. End-of-partition events are skipped, retriable
    errors go to `watch` (a suspected outage) or the log (the client retries); any other error
    is an AuditTailError."""
    rows: list[AuditRow] = []
    for msg in messages:
        error = msg.error()
        if error is None:
            rows.append(audit_row(msg, source))
            continue
        if error.code() == KafkaError._PARTITION_EOF:
            continue
        if error.retriable() and not error.fatal():
            if watch is not None:
                watch.suspect(f"{error.name()}: {error.str()}")
            else:
                log.warning("reading the audit topic %s: %s (retrying)", source.topic, error.str())
            continue
        raise AuditTailError(
            f"audit topic {source.topic}[{source.partition}]",
            "cannot be read into the metrics",
            actual=error.str(),
            fix="the router principal needs READ on the audit topic (`sharebus acl sync`); then restart"
            " the worker: it resumes after the last event stored",
        )
    return rows


# --- where to start ------------------------------------------------------------------------------
def stored_next_sql(database: str) -> str:
    """Per partition, the offset after the highest one stored from (topic, topic id)."""
    return (
        "SELECT partition_id, max(source_offset) + 1 AS next_offset"
        f" FROM {check_database_name(database)}.audit_events"
        " WHERE topic = {topic:String} AND topic_id = {topic_id:String} GROUP BY partition_id"
    )


def stored_next(store: QueryableStore, source: Source) -> int | None:
    """The offset after the highest stored from `source`, None when nothing is."""
    rows = store.query(stored_next_sql(store.database), {"topic": source.topic, "topic_id": source.topic_id})
    found = [int(r["next_offset"]) for r in rows if int(r["partition_id"]) == source.partition]
    return found[0] if found else None


def start_offset(stored: int | None, low: int, high: int, source: Source) -> int:
    """Where to read from: after what is stored (the beginning if nothing is).

    Records gone from the topic before they were counted (retention changed from the default
    forever) are logged and reading starts at the first record there is. A stored position past
    the end of the topic cannot be: the topic lost records it had (AuditTailError).
    """
    if stored is None:
        return low
    if stored > high:
        raise AuditTailError(
            f"audit topic {source.topic}[{source.partition}] (id {source.topic_id})",
            "ends before the events already counted from it",
            expected=f"its end offset >= {stored} (the next one to count)",
            actual=f"end offset {high}",
            fix="records were deleted from the audit topic: find out why; to count it afresh, delete"
            " its rows from the metrics table audit_events and restart the worker",
        )
    if stored < low:
        log.warning(
            "audit topic %s[%d]: records %d..%d were deleted before they were counted",
            source.topic,
            source.partition,
            stored,
            low - 1,
        )
        return low
    return stored


# --- the tail ------------------------------------------------------------------------------------
@dataclass(slots=True)
class TailStats:
    events: int = 0
    malformed: int = 0
    next_offset: int | None = None  # the next offset to read
    end_offset: int | None = None  # the end of the partition at the last read
    last_read_at: float | None = None  # monotonic time of the last read with records


class AuditTail:
    """A daemon thread: reads the audit topic from where the store's rows end and hands each
    batch's rows to `add` (the metrics sink's `add_audit`). Blocking I/O only on that thread.

    `fatal` is called (from the thread) with the error that stopped it; `add` raising (the sink
    failed) stops it too. `stop()` returns once the thread is done; rows it handed over are then
    in the sink, which the owner closes afterwards.
    """

    def __init__(
        self,
        store: QueryableStore,
        add: Callable[[list[AuditRow]], None],
        fatal: Callable[[BaseException], None],
        *,
        topic: str,
        consumer: Callable[[], ConsumerLike],
        topic_id: Callable[[], str],
        prepare: Callable[[], None] = lambda: None,
        batch: int = BATCH,
        poll_seconds: float = POLL_SECONDS,
        watch: KafkaWatch | None = None,
    ) -> None:
        self.watch = watch
        self.store = store
        self.add = add
        self.fatal = fatal
        self.topic = topic
        self._new_consumer = consumer
        self._topic_id = topic_id
        self._prepare = prepare
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.stats = TailStats()
        self.error: BaseException | None = None
        self.source: Source | None = None
        self.started = threading.Event()  # reading from the start offset
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-audit-tail", daemon=True)

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        store: QueryableStore,
        add: Callable[[list[AuditRow]], None],
        fatal: Callable[[BaseException], None],
        watch: KafkaWatch | None = None,
    ) -> AuditTail:
        """The tail of SHAREBUS_AUDIT_TOPIC as the router principal (`watch`: the worker's)."""
        from sharebus.core.audit import ensure_audit_topic

        conf = kafka_config(settings, Role.ROUTER)
        consumer_conf = {
            **conf,
            "group.id": f"{settings.router_id}{GROUP_SUFFIX}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",  # a start offset out of range is an error, never a skip
            **(watch.client_config() if watch is not None else {}),
        }

        def topic_id() -> str:
            admin = admin_client(conf)  # held until the answer: a collected client cancels it
            described = admin.describe_topics(TopicCollection([settings.audit_topic]))
            uuid = described[settings.audit_topic].result(timeout=15).topic_id
            return str(uuid) if uuid is not None else ""

        return cls(
            store,
            add,
            fatal,
            topic=settings.audit_topic,
            consumer=lambda: Consumer(consumer_conf),
            topic_id=topic_id,
            prepare=lambda: ensure_audit_topic(settings, Role.ROUTER),
            watch=watch,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop reading; the rows read so far are in the sink (or the tail had failed)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        consumer: ConsumerLike | None = None
        try:
            consumer = self._open()
            self.started.set()
            while not self._stop.is_set():
                self.read_once(consumer)
        except BaseException as exc:  # the thread must never die silently
            error = (
                exc
                if isinstance(exc, SharebusError)
                else AuditTailError(
                    f"audit topic {self.topic} → {self.store.description}",
                    "reading stopped unexpectedly",
                    actual=repr(exc)[:500],
                    fix="see the worker log; restart it: it resumes after the last event stored",
                )
            )
            self.error = error
            log.error("counting audit events stopped: %s", error)
            try:
                self.fatal(error)
            except Exception:
                log.exception("the audit tail's fatal callback failed")
        finally:
            if consumer is not None:
                try:
                    consumer.close()
                except Exception:
                    log.exception("closing the audit tail's consumer failed")

    def _kafka(self, call: Callable[[], T]) -> T:
        """A Kafka call; with a watch, retried through an outage within its tolerance."""
        return self.watch.call(call) if self.watch is not None else call()

    def _open(self) -> ConsumerLike:
        self._kafka(self._prepare)
        source = self.source = Source(self.topic, self._kafka(self._topic_id))
        consumer = self._new_consumer()
        try:
            tp = TopicPartition(source.topic, source.partition)
            low, high = self._kafka(lambda: consumer.get_watermark_offsets(tp, timeout=15))
            start = start_offset(stored_next(self.store, source), low, high, source)
            consumer.assign([TopicPartition(source.topic, source.partition, start)])
        except BaseException:
            consumer.close()
            raise
        self.stats.next_offset, self.stats.end_offset = start, high
        log.info(
            "counting audit events of %s (id %s) from offset %d (end %d)",
            source.topic,
            source.topic_id,
            start,
            high,
        )
        return consumer

    def read_once(self, consumer: ConsumerLike) -> int:
        """One consume: the rows of what it returned handed to `add`; their number."""
        assert self.source is not None
        if self.watch is not None:
            self.watch.check()
        # Wait for one record only, then take what is already fetched: consume(n, t) would hold a
        # lone event back for the whole `t` waiting for n.
        messages = list(consumer.consume(1, self.poll_seconds))
        if messages and self.batch > 1:
            messages += consumer.consume(self.batch - 1, 0)
        rows = rows_of(messages, self.source, self.watch)
        if rows:
            self.add(rows)
            self.stats.events += len(rows)
            self.stats.malformed += sum(1 for r in rows if r.action == MALFORMED)
            self.stats.next_offset = rows[-1].offset + 1
            self.stats.last_read_at = time.monotonic()
        return len(rows)
