"""`district sync`: consume a subscriber's topics from the offsets its database holds, and apply
each batch — upserts, deletes, table evolution and the next offsets — in one transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from schemas.errors import RegistryAccessError
from schemas.keys import parse_share_key
from schemas.registry_client import NOT_ENTITLED
from sharebus.apps.district.decode import ValueDecoder
from sharebus.apps.district.errors import SyncError
from sharebus.apps.district.naming import department_of, table_name, topic_prefix
from sharebus.apps.district.offsets import TopicPartitionKey
from sharebus.apps.district.store import Change, DistrictStore
from sharebus.core import naming
from sharebus.core.errors import UnreachableError
from sharebus.core.kafka_clients import Role, connection
from sharebus.core.naming import H_DEMAND, H_POLICY
from sharebus.core.outage import KafkaWatch, describe, transient
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

_REFUSED = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._AUTHENTICATION,
        KafkaError._SSL,
    }
)
"""Errors retrying cannot cure: the sync stops and says so."""
IDLE_PROGRESS_EVERY = 60.0  # seconds between progress lines while nothing arrives


@dataclass(frozen=True)
class SyncOptions:
    batch_size: int = 2000  # messages per transaction, at most
    batch_window: float = 0.2  # seconds a partial batch waits
    until_caught_up: bool = False  # stop once every partition reached its end as of the start
    progress_every: float = 5.0
    discover_every: float = 10.0  # new subscriber topics (a newly approved demand) are picked up
    kafka: Mapping[str, str] = field(default_factory=dict)  # the district's own client settings
    resources: frozenset[str] = frozenset()  # only these resources' topics (empty: every one)


@dataclass
class SyncReport:
    """What a sync run did; `lag` is what was left to read when it last looked."""

    subscriber: str
    schema: str
    records: int = 0  # messages consumed
    upserts: int = 0
    deletes: int = 0
    not_entitled: int = 0  # values of resources withdrawn from the subscriber, skipped
    batches: int = 0
    ddl: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    lag: int = 0
    seconds: float = 0.0
    caught_up: bool = False

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscriber": self.subscriber,
            "schema": self.schema,
            "records": self.records,
            "upserts": self.upserts,
            "deletes": self.deletes,
            "not_entitled": self.not_entitled,
            "batches": self.batches,
            "ddl": self.ddl,
            "topics": self.topics,
            "lag": self.lag,
            "caught_up": self.caught_up,
            "seconds": round(self.seconds, 2),
            "records_per_second": round(self.rate, 1),
        }


def group_id(subscriber: str) -> str:
    """The consumer group the sync commits to (for lag tooling only): `<subscriber>.sync`."""
    return naming.sync_group(subscriber)


def _header(msg: Message, name: str) -> str | None:
    for header in msg.headers() or ():
        if header[0] == name and header[1] is not None:
            value = header[1]
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


class DistrictSync:
    """One subscriber's topics into one target schema. `run` blocks until stopped (or caught up)."""

    def __init__(
        self,
        settings: Settings,
        subscriber: str,
        store: DistrictStore,
        decoder: ValueDecoder,
        options: SyncOptions,
        echo: Echo,
    ) -> None:
        self.settings = settings
        self.subscriber = subscriber
        self.store = store
        self.decoder = decoder
        self.options = options
        self.echo = echo
        self.report = SyncReport(subscriber, store.schema)
        self._said_not_entitled: set[str] = set()
        self.positions: dict[TopicPartitionKey, int] = {}
        self.targets: dict[TopicPartitionKey, int] = {}
        self._stop = threading.Event()
        kafka = connection(settings, Role.CLIENT)
        self.watch = KafkaWatch(
            {**kafka.admin(), **options.kafka},
            settings.kafka_outage_tolerance,
            component=f"district sync {subscriber}",
        )
        self.consumer = Consumer(
            kafka.consumer(
                {
                    "group.id": group_id(subscriber),
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                    "fetch.max.bytes": 8 * 1024 * 1024,
                    **self.watch.client_config(),
                    **options.kafka,
                },
            )
        )
        self._outage_said = 0.0
        self._departments = {r.split(".", 1)[0] for r in options.resources}

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> SyncReport:
        started = time.monotonic()
        last_progress = last_discover = started
        window_records = 0
        try:
            self._discover()
            if self.options.until_caught_up:
                self.targets = {tp: self._high(tp) for tp in self.positions}
            while not self._stop.is_set():
                msgs = self.consumer.consume(self.options.batch_size, self.options.batch_window)
                window_records += self._batch(msgs)
                self.watch.check()  # an outage is waited out, up to the tolerance
                now = time.monotonic()
                if self._say_outage(now):
                    continue
                if self.options.until_caught_up and self._reached_targets():
                    self.report.caught_up = True
                    break
                if now - last_discover >= self.options.discover_every:
                    self._discover()
                    last_discover = now
                idle = window_records == 0 and now - last_progress < IDLE_PROGRESS_EVERY
                if now - last_progress >= self.options.progress_every and not idle:
                    self._progress(window_records / (now - last_progress))
                    last_progress, window_records = now, 0
        finally:
            self.report.seconds = time.monotonic() - started
            if not self.watch.suspected:
                self.report.lag = self._lag()
                self.report.caught_up = self.report.caught_up or self.report.lag == 0
            self.watch.close()
            self.consumer.close()
        return self.report

    def _say_outage(self, now: float) -> bool:
        """While Kafka is unreachable: say so every progress interval (instead of progress)."""
        status = self.watch.status()
        if status is None:
            return False
        if now - self._outage_said >= self.options.progress_every:
            self.echo(f"  {status}; the sync resumes where it stopped when Kafka is back")
            self._outage_said = now
        return True

    # --- assignment ------------------------------------------------------------------------------
    def _discover(self) -> None:
        """Assign every partition of the subscriber's topics not yet assigned, at the offset the
        target database holds (or the beginning)."""
        meta = self.watch.call(lambda: self.consumer.list_topics(timeout=10))
        new: list[TopicPartition] = []
        for topic, tmeta in sorted(meta.topics.items()):
            department = department_of(topic, self.subscriber)
            if department is None or tmeta.error is not None:
                continue
            if self.options.resources and department not in self._departments:
                continue
            for p in sorted(tmeta.partitions):
                if (topic, p) in self.positions:
                    continue
                start = self.store.offsets.get((topic, p))
                new.append(TopicPartition(topic, p, OFFSET_BEGINNING if start is None else start))
                self.positions[(topic, p)] = start if start is not None else 0
            if topic not in self.report.topics:
                self.report.topics.append(topic)
                self.echo(f"  {topic}: from offset {self.store.offsets.get((topic, 0), 'beginning')}")
        if new:
            self.consumer.incremental_assign(new)
        if not self.positions:
            self.echo(f"  no topics {topic_prefix(self.subscriber)}* yet (waiting for an entitlement)")

    def _high(self, tp: TopicPartitionKey) -> int:
        _low, high = self.consumer.get_watermark_offsets(TopicPartition(*tp), timeout=10, cached=False)
        return int(high)

    def _reached_targets(self) -> bool:
        return all(self.positions.get(tp, 0) >= high for tp, high in self.targets.items())

    def _lag(self) -> int:
        lag = 0
        for tp, position in self.positions.items():
            try:
                lag += max(0, self._high(tp) - position)
            except KafkaException:
                continue
        return lag

    # --- one batch -------------------------------------------------------------------------------
    def _batch(self, msgs: list[Message]) -> int:
        latest: dict[tuple[str, bytes], Change] = {}
        offsets: dict[TopicPartitionKey, int] = {}
        records: dict[TopicPartitionKey, int] = {}
        for msg in msgs:
            err = msg.error()
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if topic is not None and partition is not None and offset is not None:
                        tp = (topic, partition)
                        self.positions[tp] = max(self.positions.get(tp, 0), offset)
                    continue
                if err.fatal() or err.code() in _REFUSED:
                    raise SyncError(
                        f"topic {topic or '?'}",
                        "cannot be read",
                        actual=err.str(),
                        fix="check the district's Kafka credentials and ACL on "
                        + topic_prefix(self.subscriber),
                    )
                if transient(err):
                    self.watch.suspect(f"{err.name()}: {err.str()}")  # a broker restart
                else:
                    self.echo(f"  kafka: {err.str()} (retrying)")  # a deleted topic…
                continue
            assert topic is not None and partition is not None and offset is not None
            latest_key = self._change(msg, topic, partition, offset)
            if latest_key is not None:
                latest[latest_key[0]] = latest_key[1]
            offsets[(topic, partition)] = offset + 1
            records[(topic, partition)] = records.get((topic, partition), 0) + 1
        if not offsets:
            return 0
        try:
            applied = self.store.apply(list(latest.values()), offsets, records)
        except psycopg.OperationalError as exc:
            self._reconnect(exc)
            return 0
        except psycopg.Error as exc:
            first = ", ".join(f"{t}[{p}]@{o - records[(t, p)]}" for (t, p), o in offsets.items())
            raise SyncError(
                f"batch from {first}",
                "could not be applied (rolled back; the offsets stay before it)",
                actual=" ".join(str(exc).split()),
                fix="correct the district table (e.g. a column changed by hand) and restart the sync",
            ) from None
        self.positions.update(offsets)
        try:  # for lag tooling only: the offsets that count are in the district's database
            self.consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=True
            )
        except KafkaException as exc:
            self.watch.failed(exc)
        n = sum(records.values())
        self.report.records += n
        self.report.upserts += applied.upserts
        self.report.deletes += applied.deletes
        self.report.batches += 1
        for stmt in applied.ddl:
            self.report.ddl.append(stmt)
            self.echo(f"  ddl: {stmt}")
        return n

    def _reconnect(self, exc: psycopg.OperationalError) -> None:
        """The district database went away mid-batch (rolled back): wait for it within the
        tolerance, then read again from the offsets it committed."""
        lost = time.monotonic()
        tolerance = self.settings.db_outage_tolerance
        self.echo(
            f"  district database {self.store.target.safe_url} unreachable ({' '.join(str(exc).split())});"
            f" waiting up to {describe(tolerance)} (SHAREBUS_DB_OUTAGE_TOLERANCE)"
        )
        while True:
            try:
                self.store.reopen()
                break
            except (psycopg.OperationalError, UnreachableError) as again:
                waited = time.monotonic() - lost
                if waited > tolerance or self._stop.is_set():
                    detail = again.actual if isinstance(again, UnreachableError) else str(again)
                    raise UnreachableError(
                        f"district database {self.store.target.safe_url}",
                        f"unreachable for {describe(waited)}, longer than the sync waits"
                        f" (SHAREBUS_DB_OUTAGE_TOLERANCE={tolerance:g} s)",
                        actual=" ".join((detail or "").split()),
                        fix="start the database, then the sync: it resumes at the offsets it stored",
                    ) from None
                self._stop.wait(2.0)
        for tp in self.positions:
            start = self.store.offsets.get(tp)
            self.consumer.seek(TopicPartition(*tp, OFFSET_BEGINNING if start is None else start))
            self.positions[tp] = start or 0
        self.echo(
            f"  district database back after {describe(time.monotonic() - lost)}; resuming at its offsets"
        )

    def _change(
        self, msg: Message, topic: str, partition: int, offset: int
    ) -> tuple[tuple[str, bytes], Change] | None:
        """The change a record makes to its resource's table; None for a resource the options
        leave out (`--resource`)."""
        where = f"record {topic}[{partition}]@{offset}"
        raw_key = msg.key()
        department = department_of(topic, self.subscriber)
        if raw_key is None or department is None:
            raise SyncError(
                where,
                "has no key",
                expected='{"resource": "<id>", "key": {<primary key>}} as JSON',
                fix="only the router should write subscriber topics",
            )
        try:
            resource, key = parse_share_key(raw_key)
        except ValueError as exc:
            raise SyncError(
                where,
                "has a key that is not a subscriber-topic key",
                actual=f"{raw_key[:200]!r}: {exc}",
                fix="only the router should write subscriber topics",
            ) from None
        if not resource.startswith(f"{department}."):
            raise SyncError(
                where,
                f"carries {resource}, a resource of another department",
                expected=f"a resource of {department} (the topic's department)",
                fix="only the router should write subscriber topics",
            )
        if self.options.resources and resource not in self.options.resources:
            return None
        value = msg.value()
        try:
            writer, record = self.decoder.decode(value, where) if value is not None else (None, None)
        except RegistryAccessError as exc:
            if exc.error_code != NOT_ENTITLED:
                raise
            self._not_entitled(resource, where)
            return None
        change = Change(
            table_name(resource), key, record, writer, offset, _header(msg, H_POLICY), _header(msg, H_DEMAND)
        )
        return (topic, raw_key), change

    def _not_entitled(self, resource: str, where: str) -> None:
        """A value of a resource the subscriber may no longer read (its demand revoked or expired
        while this sync was behind, or before a sync from the beginning): the registry refuses its
        schema. It is skipped — the withdrawal tombstoned every key that was live, later in the
        topic — counted, and said once per resource."""
        self.report.not_entitled += 1
        if resource not in self._said_not_entitled:
            self._said_not_entitled.add(resource)
            self.echo(
                f"  {where}: {resource} is no longer {self.subscriber}'s to read (the registry refuses its"
                " schema): its values are skipped, the withdrawal's tombstones that follow delete its rows"
            )

    def _progress(self, rate: float) -> None:
        r = self.report
        self.echo(
            f"  applied {r.records:,} records ({rate:,.0f}/s now): {r.upserts:,} upserts,"
            f" {r.deletes:,} deletes in {r.batches:,} transactions; lag {self._lag():,}"
        )
