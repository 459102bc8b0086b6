"""The audit trail: an append-only topic of who withheld, granted, revoked or re-keyed what, and when."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from sharebus.core import naming
from sharebus.core.errors import UnreachableError
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
from sharebus.core.outage import KafkaWatch
from sharebus.core.settings import Settings

# Kept forever, never compacted: an audit record is never replaced or removed.
AUDIT_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}

ACL_GRANT = "acl.grant"
ACL_REVOKE = "acl.revoke"
CREDENTIAL_CREATE = "credential.create"
CREDENTIAL_ROTATE = "credential.rotate"
CREDENTIAL_DISABLE = "credential.disable"
POLICY_WITHHOLD = "policy.withhold"
TOPICS_MIGRATE = "topics.migrate"
ACTIONS = (
    ACL_GRANT,
    ACL_REVOKE,
    CREDENTIAL_CREATE,
    CREDENTIAL_ROTATE,
    CREDENTIAL_DISABLE,
    POLICY_WITHHOLD,
    TOPICS_MIGRATE,
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


def ensure_audit_topic(settings: Settings, role: Role = Role.ADMIN) -> None:
    ensure_topics(
        admin_client(kafka_config(settings, role)),
        {settings.audit_topic: (1, AUDIT_TOPIC_CONFIG)},
        Replication.of(settings),
    )


class AuditLog:
    """Writes audit events; `write` returns once Kafka has them (or raises)."""

    def __init__(self, settings: Settings, role: Role = Role.ADMIN) -> None:
        self.settings = settings
        self.role = role
        self._producer: Producer | None = None

    def open(self, timeout: float = 30.0, watch: KafkaWatch | None = None) -> Producer:
        """The audit topic made and the producer started (once). A caller that knows it will write
        opens early: an idempotent producer's first write waits ~0.5 s for its producer id
        (librdkafka retries the request on a 500 ms timer when no broker is connected yet), and
        that wait then overlaps the caller's own work."""
        if self._producer is None:
            outage: dict[str, object] = {}
            if watch is None:
                ensure_audit_topic(self.settings, self.role)
            else:
                watch.call(lambda: ensure_audit_topic(self.settings, self.role))
                outage = watch.producer_config(timeout)
            props = {"enable.idempotence": True, **outage}
            self._producer = Producer(producer_config(self.settings, self.role, props))
        return self._producer

    def write(
        self, events: Iterable[AuditEvent], timeout: float = 30.0, watch: KafkaWatch | None = None
    ) -> int:
        """Write `events`; returns once Kafka has them. With a `watch` (a long-running component),
        a Kafka outage is waited out within its tolerance."""
        batch = list(events)
        if not batch:
            return 0
        producer = self.open(timeout, watch)
        errors: list[str] = []

        def done(err: object, _msg: object) -> None:
            if err is not None:
                errors.append(str(err))

        for ev in batch:
            producer.produce(
                self.settings.audit_topic, orjson.dumps(ev.to_dict()), ev.subject.encode(), on_delivery=done
            )
        remaining = watch.flush(producer, timeout) if watch is not None else producer.flush(timeout)
        if remaining or errors:
            raise UnreachableError(
                f"audit topic {self.settings.audit_topic}",
                f"{len(batch)} audit event(s) were not written",
                actual="; ".join(errors[:3]) or f"not delivered within {timeout:.0f} s",
                fix="check Kafka (`sharebus stack status`); the change itself was made: re-run to re-audit",
            )
        return len(batch)


def read_audit(
    settings: Settings, *, since: datetime | None = None, timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Every audit event (at or after `since`), oldest first; for the CLI and tests (admin)."""
    ensure_audit_topic(settings)
    consumer = Consumer(
        consumer_config(
            settings,
            Role.ADMIN,
            {
                "group.id": naming.AUDIT_READER_GROUP,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
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
        return [orjson.loads(msg.value() or b"{}") for msg in messages]
    finally:
        consumer.close()
