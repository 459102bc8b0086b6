"""The audit trail: an append-only topic of who withheld, granted, revoked or re-keyed what, and when."""

from __future__ import annotations

import getpass
import hashlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from sharebus.core import audit_chain, naming
from sharebus.core.audit_chain import Link
from sharebus.core.errors import AccessError, ConfigError, ExitCode, SharebusError, UnreachableError
from sharebus.core.kafka_clients import (
    Replication,
    Role,
    admin_client,
    consumer_config,
    ensure_topics,
    kafka_config,
    principal,
    producer_config,
    read_partition,
)
from sharebus.core.outage import KafkaWatch, transient
from sharebus.core.settings import Settings

_log = logging.getLogger(__name__)

# Kept forever, never compacted: an audit record is never replaced or removed.
AUDIT_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}

ACL_GRANT = "acl.grant"
ACL_REVOKE = "acl.revoke"
CREDENTIAL_CREATE = "credential.create"
CREDENTIAL_ROTATE = "credential.rotate"
CREDENTIAL_DISABLE = "credential.disable"
POLICY_WITHHOLD = "policy.withhold"
TOPICS_MIGRATE = "topics.migrate"
SECURITY_ALERT = "security.alert"
PSEUDONYM_MAP = "pseudonym.map"
DEMAND_REQUEST = "demand.request"
DEMAND_APPROVE = "demand.approve"
DEMAND_REJECT = "demand.reject"
DEMAND_REVOKE = "demand.revoke"
DATA_DESTROY = "data.destroy"  # a withdrawal's tombstones: a subscriber's copy of a resource destroyed
OBJECTION_RAISE = "objection.raise"  # a subscriber flagged a record it received as wrong
OBJECTION_ANSWER = "objection.answer"  # acknowledged, corrected or rejected (by the department or a change)
ACTIONS = (
    ACL_GRANT,
    ACL_REVOKE,
    CREDENTIAL_CREATE,
    CREDENTIAL_ROTATE,
    CREDENTIAL_DISABLE,
    POLICY_WITHHOLD,
    TOPICS_MIGRATE,
    SECURITY_ALERT,
    PSEUDONYM_MAP,
    DEMAND_REQUEST,
    DEMAND_APPROVE,
    DEMAND_REJECT,
    DEMAND_REVOKE,
    DATA_DESTROY,
    OBJECTION_RAISE,
    OBJECTION_ANSWER,
)


@dataclass(frozen=True)
class AuditEvent:
    """One audit record. `subject` is whom it concerns (a subscriber / principal), `target` what
    (a topic, a resource); `actor` who did it (Kafka principal and OS user@host)."""

    action: str
    subject: str
    target: str
    actor: str
    catalog_version: str | None
    at: str  # ISO 8601, UTC
    count: int = 1
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def actor(settings: Settings, role: Role = Role.ADMIN) -> str:
    """`<kafka principal> (<os user>@<host>)`: who a CLI or worker acts as."""
    try:
        who = getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        who = "unknown"
    return f"User:{principal(settings, role)[0]} ({who}@{socket.gethostname()})"


def event(
    settings: Settings,
    action: str,
    subject: str,
    target: str,
    *,
    catalog_version: str | None,
    role: Role = Role.ADMIN,
    count: int = 1,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat()
    return AuditEvent(
        action, subject, target, actor(settings, role), catalog_version, stamp, count, dict(detail or {})
    )


def security_alert(
    settings: Settings,
    role: Role,
    subject: str,
    target: str,
    detail: Mapping[str, Any],
    *,
    log: AuditLog | None = None,
) -> None:
    """A `security.alert` audit record of `subject` at `target`, written off the caller's thread
    (a failed write is logged as an error; the caller has logged the alert itself)."""
    record = event(settings, SECURITY_ALERT, subject, target, catalog_version=None, role=role, detail=detail)
    writer = log or AuditLog(settings, role)

    def write() -> None:
        try:
            writer.write([record])
        except SharebusError as exc:
            _log.error("the security alert was not audited: %s", exc)

    threading.Thread(target=write, name="security-alert", daemon=True).start()


def login_alerts(settings: Settings, role: Role, service: str) -> Callable[[str, int], None]:
    """What a web service does when a user's logins keep being refused: a warning in its log and
    a `security.alert` audit record."""
    log = AuditLog(settings, role)

    def alert(user: str, count: int) -> None:
        window = settings.security_window
        _log.warning(
            "security alert: %d refused logins of %s at %s within %.0f s", count, user, service, window
        )
        detail = {"kind": "login_refusals", "count": count, "window_s": window}
        security_alert(settings, role, user, service, detail, log=log)

    return alert


def ensure_audit_topic(settings: Settings, role: Role = Role.ADMIN) -> None:
    ensure_topics(
        admin_client(kafka_config(settings, role)),
        {settings.audit_topic: (1, AUDIT_TOPIC_CONFIG)},
        Replication.of(settings),
    )


class AuditLog:
    """Writes audit events, each linked to the chain (`audit_chain`); `write` returns once Kafka
    has them (or raises). Writers of the bus (CLI runs, workers) take turns through one
    transactional id: a writer's `init_transactions` fences every other, so the tail it then reads
    stays the tail until it commits — a writer fenced meanwhile finds out at its commit (nothing of
    it is visible) and links its events again after the new tail. The writers of one process share
    one turn (`_Turn`): one producer, written through one at a time, so they never fence each other."""

    def __init__(self, settings: Settings, role: Role = Role.ADMIN) -> None:
        self.settings = settings
        self.role = role
        self._turn = _Turn.of(settings, role)

    def open(self, timeout: float = 30.0, watch: KafkaWatch | None = None) -> None:
        """Start making the audit topic, the transactional producer and reading the chain's tail
        (once), in the background: a caller that knows it will write opens early, and the
        ~0.5 s of the producer's first request overlaps its own work."""
        self._turn.open(lambda: self._prepare(timeout, watch))

    def _prepare(self, timeout: float, watch: KafkaWatch | None) -> _Writer:
        call: Callable[[Callable[[], T]], T] = watch.call if watch is not None else _direct
        turn = self._turn
        if turn.tail is None:
            call(lambda: ensure_audit_topic(self.settings, self.role))
            turn.tail = TailReader(self.settings, self.role)
        tail = turn.tail
        outage = watch.producer_config(timeout) if watch is not None else {}
        # A transaction outlives its messages' timeout (a component waits out an outage); at most
        # the broker's transaction.max.timeout.ms (15 min by default). A writer that dies inside
        # one holds back read_committed readers until the next writer's turn aborts it.
        message_ms = min(int(str(outage.get("message.timeout.ms", 60_000))), MAX_TRANSACTION_MS)
        props: dict[str, object] = {
            "enable.idempotence": True,
            "transactional.id": naming.audit_transactional_id(self.settings.audit_topic),
            **outage,
            "message.timeout.ms": message_ms,
            "transaction.timeout.ms": max(60_000, message_ms),
        }
        producer = Producer(producer_config(self.settings, self.role, props))
        call(lambda: producer.init_transactions(timeout))
        try:
            return _Writer(producer, call(lambda: tail.read(timeout)))
        except TimeoutError as exc:
            problem = "its last records were not read, so new ones cannot be chained to them"
            raise _not_read(self.settings.audit_topic, exc, problem) from None

    def write(
        self, events: Iterable[AuditEvent], timeout: float = 30.0, watch: KafkaWatch | None = None
    ) -> int:
        """Write `events` in one transaction, chained after the tail; returns once Kafka has them.
        With a `watch` (a long-running component), a Kafka outage is waited out within its
        tolerance; a turn lost to another writer, a broker fault or a timeout is retried with a fresh
        producer for `timeout` seconds of Kafka being reachable (time spent in an outage, or
        waiting for this process's other writers, does not count)."""
        batch = list(events)
        if not batch:
            return 0
        with self._turn.lock:
            return self._write(batch, timeout, watch)

    def _write(self, batch: list[AuditEvent], timeout: float, watch: KafkaWatch | None) -> int:
        problems: list[str] = []
        deadline, attempt = time.monotonic() + timeout, 0
        unsure: Link | None = None  # the last link of a commit whose answer was lost
        while True:
            attempt += 1
            self.open(timeout, watch)
            ready = self._turn.ready
            assert ready is not None
            writer: _Writer | None = None
            try:
                writer = ready.result()
                if unsure is not None and writer.tail == unsure:
                    return len(batch)  # the commit's answer was lost, not the commit
                writer.commit(self.settings.audit_topic, batch, timeout)
                return len(batch)
            except KafkaException as exc:
                self._turn.reset(ready)  # a new producer (it fences this one) and the tail read again
                self._refused(exc)
                outage = False
                if watch is not None:
                    if transient(exc):
                        watch.failed(exc)
                        watch.check()  # past the tolerance: the outage's error
                        outage = watch.suspected  # waited out, and `timeout` more once it is over
                    if outage:
                        deadline = max(deadline, time.monotonic() + timeout)
                    if watch.back_at is not None:  # a commit that hung through an outage: its
                        deadline = max(deadline, watch.back_at + timeout)  # time runs from Kafka's return
                problems.append(str(exc.args[0]))
                if writer is not None and writer.wrote != writer.tail:
                    unsure = writer.wrote  # the next turn's tail tells whether it landed
                if time.monotonic() >= deadline and not outage:
                    break
                if attempt > 1:  # writers of other processes fencing each other in turn: wait a bit
                    time.sleep(random.uniform(0.02, 0.2) * min(attempt, 5))
        raise UnreachableError(
            f"audit topic {self.settings.audit_topic}",
            f"{len(batch)} audit event(s) were not written",
            actual="; ".join(problems[-3:]),
            fix="check Kafka (`sharebus stack status`); the change itself was made: re-run to re-audit",
        )

    def _refused(self, exc: KafkaException) -> None:
        """Raise what no retry mends: a configuration librdkafka refuses, or Kafka refusing access."""
        text = str(exc.args[0])
        if isinstance(exc.args[0], KafkaError) and exc.args[0].code() == KafkaError._INVALID_ARG:
            raise ConfigError(
                f"audit producer of {self.settings.audit_topic}",
                "librdkafka refused its configuration",
                actual=text[:300],
                fix="correct SHAREBUS_KAFKA_PRODUCER_EXTRA (or the outage tolerance)",
            ) from None
        if "AUTHORIZATION" in text or "AUTHENTICATION" in text:
            raise AccessError(
                f"audit topic {self.settings.audit_topic}",
                f"Kafka refused {principal(self.settings, self.role)[0]} the audit chain",
                expected="WRITE on the topic and on the transactional id"
                f" {naming.audit_transactional_id(self.settings.audit_topic)}",
                actual=text[:300],
                fix="`sharebus acl sync` (as the admin) grants the bus principals what they use",
            ) from None


class _Turn:
    """One process's place in the audit chain's turns, per cluster, audit topic and login: the
    producer holding it (made in the background), the chain's tail reader, and the lock its writers
    write under one at a time."""

    _all: ClassVar[dict[tuple[str, str, str], _Turn]] = {}  # by cluster, audit topic and login
    _made: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held through a write, retries included
        self._guard = threading.Lock()  # `ready` is set and reset under it
        self.ready: Future[_Writer] | None = None
        self.tail: TailReader | None = None  # kept between turns, as the topic once made

    @classmethod
    def of(cls, settings: Settings, role: Role) -> _Turn:
        user, password = principal(settings, role)
        secret = hashlib.sha256(password.get_secret_value().encode()).hexdigest()
        key = (settings.kafka_bootstrap, settings.audit_topic, f"{user}:{secret}")
        with cls._made:
            return cls._all.setdefault(key, _Turn())

    def open(self, prepare: Callable[[], _Writer]) -> None:
        with self._guard:
            if self.ready is None:
                self.ready = _in_background(prepare)

    def reset(self, failed: Future[_Writer]) -> None:
        """The writer of `failed` lost the turn: the next write makes a new one."""
        with self._guard:
            if self.ready is failed:
                self.ready = None


MAX_TRANSACTION_MS = 900_000
"""Kafka's default transaction.max.timeout.ms: the longest an audit write's transaction may stay open."""

T = TypeVar("T")


def _direct(fn: Callable[[], T]) -> T:
    return fn()


def _in_background(fn: Callable[[], T]) -> Future[T]:
    """`fn` run on a thread of its own; its result (or exception) in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="audit-open", daemon=True).start()
    return future


class _Writer:
    """A transactional producer holding the turn, and the tail it links after."""

    def __init__(self, producer: Producer, tail: Link) -> None:
        self.producer = producer
        self.tail = tail
        self.wrote = tail  # the last link this writer tried to commit

    def commit(self, topic: str, batch: list[AuditEvent], timeout: float) -> None:
        producer, tail = self.producer, self.tail
        producer.begin_transaction()
        for ev in batch:
            record, tail = audit_chain.link(ev.to_dict(), tail)
            producer.produce(topic, orjson.dumps(record), ev.subject.encode())
        self.wrote = tail
        producer.commit_transaction(timeout)
        self.tail = tail


def _reader(settings: Settings, role: Role, group: str) -> Consumer:
    """A reader of the audit partition: committed records only (the chain's), no wait at its end."""
    return Consumer(
        consumer_config(
            settings,
            role,
            {
                "group.id": group,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            },
        )
    )


def _not_read(topic: str, exc: TimeoutError, problem: str) -> UnreachableError:
    return UnreachableError(
        f"audit topic {topic}",
        problem,
        actual=str(exc),
        fix="check Kafka (`sharebus stack status`) and re-run",
    )


class TailReader:
    """Reads the last link of the chain (committed records only), backwards from the end in
    growing steps; `START` when no record is chained yet. One consumer, kept between reads."""

    def __init__(self, settings: Settings, role: Role) -> None:
        self.topic = settings.audit_topic
        self.consumer = _reader(settings, role, naming.AUDIT_CHAIN_GROUP)

    def read(self, timeout: float) -> Link:
        tp = TopicPartition(self.topic, 0)
        low, end = self.consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
        step = 64
        while end > low:
            start = max(low, end - step)
            last: Link | None = None
            for msg in read_partition(self.consumer, tp, start, end, timeout, strict=True):
                if (msg.offset() or 0) >= end:
                    break
                record = audit_chain.decode(msg.value())
                if audit_chain.chained(record):
                    last = Link(record[audit_chain.SEQ], record[audit_chain.HASH])
            if last is not None:
                return last
            end, step = start, step * 4
        return audit_chain.START


class AuditTamperedError(SharebusError):
    """The audit chain is broken: `sharebus audit verify` names the first broken link."""

    exit_code = ExitCode.TAMPERED


def verify_audit(
    settings: Settings,
    *,
    anchor: Link | None = None,
    timeout: float = 600.0,
    progress: Callable[[int, int], None] | None = None,
) -> audit_chain.ChainReport:
    """The audit partition's chain checked from its first offset to its end, streamed (the topic
    keeps every record forever); `progress(offset, end)` is told along the way."""
    ensure_audit_topic(settings)
    consumer = _reader(settings, Role.ADMIN, naming.AUDIT_READER_GROUP)
    try:
        tp = TopicPartition(settings.audit_topic, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout)

        def entries() -> Iterator[tuple[int, bytes | None]]:
            if high <= low:
                return
            for n, msg in enumerate(read_partition(consumer, tp, low, high, timeout, strict=True)):
                offset = msg.offset() or 0
                if progress is not None and n % 10_000 == 0:
                    progress(offset, high)
                yield offset, msg.value()

        try:
            return audit_chain.verify(entries(), log_start=low, anchor=anchor)
        except TimeoutError as exc:
            raise _not_read(settings.audit_topic, exc, "not read to its end") from None
    finally:
        consumer.close()


def read_audit(
    settings: Settings, *, since: datetime | None = None, timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Every audit record (at or after `since`) that is a JSON object, oldest first; for the CLI
    and tests (admin). Anything else on the topic is skipped here (`verify_audit` names it)."""
    ensure_audit_topic(settings)
    consumer = _reader(settings, Role.ADMIN, naming.AUDIT_READER_GROUP)
    try:
        tp = TopicPartition(settings.audit_topic, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
        if high <= low:
            return []
        start = low
        if since is not None:
            found = consumer.offsets_for_times(
                [TopicPartition(tp.topic, 0, int(since.timestamp() * 1000))], timeout=timeout
            )[0].offset
            start = high if found < 0 else max(low, found)
        if start >= high:
            return []
        messages = read_partition(consumer, tp, start, high, timeout)
        decoded = (audit_chain.decode(msg.value()) for msg in messages)
        return [record for record in decoded if isinstance(record, dict)]  # not JSON objects: skipped
    finally:
        consumer.close()
