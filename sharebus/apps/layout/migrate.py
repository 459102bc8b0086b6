"""`sharebus topics migrate`: each topic of the per-resource layout copied into the topic of its
subscriber and department (keys and subjects of the current layout), then deleted."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from schemas.keys import key_prefix, wrap_key
from schemas.registry_client import RegistryClient
from schemas.wire import header, split
from sharebus.core import naming
from sharebus.core.audit import TOPICS_MIGRATE, AuditLog, event
from sharebus.core.errors import SharebusError, UnreachableError
from sharebus.core.kafka_clients import (
    Replication,
    Role,
    admin_client,
    consumer_config,
    ensure_topics,
    kafka_config,
    read_to_end,
)
from sharebus.core.kafka_clients import producer_config as make_producer_config
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from streams.router.delivery import PRODUCER
from streams.router.topics import SUBSCRIBER_TOPIC_CONFIG

READ_TIMEOUT = 300.0


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    return [(str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in raw or []]


class MigrationError(SharebusError):
    """A topic could not be moved: nothing of it is deleted."""


@dataclass
class Move:
    """One topic of the per-resource layout and where its records go."""

    legacy: str
    subscriber: str
    resource: str
    topic: str
    copied: int = 0
    skipped: int = 0  # keys the router already wrote to the new topic (newer)
    deleted_rows: int = 0  # keys whose latest record is a tombstone: nothing to carry

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.legacy,
            "to": self.topic,
            "subscriber": self.subscriber,
            "resource": self.resource,
            "copied": self.copied,
            "skipped_newer": self.skipped,
            "deleted_rows": self.deleted_rows,
        }


@dataclass
class MigrationReport:
    moves: list[Move] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "moves": [m.to_dict() for m in self.moves],
            "deleted_topics": self.deleted,
            "seconds": round(self.seconds, 2),
        }


def plan_moves(topics: list[str]) -> list[Move]:
    """The topics of the per-resource layout among `topics`, each with its new topic (pure)."""
    moves = []
    for name in sorted(topics):
        parsed = naming.parse_legacy_share_topic(name)
        if parsed is not None:
            subscriber, resource = parsed
            department = resource.split(".", 1)[0]
            moves.append(Move(name, subscriber, resource, naming.share_topic(subscriber, department)))
    return moves


def record_fullname(schema_text: str) -> str:
    """`<namespace>.<name>` of an Avro record schema."""
    schema = orjson.loads(schema_text)
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


class Migration:
    """Copies, verifies, then deletes: a topic is deleted only once every live key of it is in
    the new topic (acknowledged by Kafka)."""

    def __init__(self, settings: Settings, echo: Echo) -> None:
        self.settings = settings
        self.echo = echo
        self.admin: AdminClient = admin_client(kafka_config(settings, Role.ADMIN))
        self.registry = RegistryClient.for_settings(settings)
        self.consumer = Consumer(
            consumer_config(
                settings,
                Role.ADMIN,
                {
                    "group.id": naming.MIGRATE_READER_GROUP,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                },
            )
        )
        self.producer = Producer(make_producer_config(settings, Role.ADMIN, dict(PRODUCER)))
        self._subjects: dict[tuple[str, int], int] = {}

    def close(self) -> None:
        self.consumer.close()

    def topic_names(self) -> list[str]:
        return list(self._call(lambda: self.admin.list_topics(timeout=10)).topics)

    def run(self, *, dry_run: bool = False) -> MigrationReport:
        started = time.monotonic()
        report = MigrationReport(dry_run=dry_run)
        topics = self.topic_names()
        report.moves = plan_moves(topics)
        if not report.moves:
            self.echo("no subscriber topics of the per-resource layout: nothing to do")
        if dry_run or not report.moves:
            report.seconds = time.monotonic() - started
            return report
        targets: dict[str, list[Move]] = defaultdict(list)
        for move in report.moves:
            targets[move.topic].append(move)
        ensure_topics(
            self.admin, {t: (1, SUBSCRIBER_TOPIC_CONFIG) for t in targets}, Replication.of(self.settings)
        )
        for i, (topic, moves) in enumerate(sorted(targets.items()), 1):
            present = {key for key, _v, _h in self._read(topic) if key is not None}
            for move in moves:
                self._copy(move, present)
            self._flush(topic)
            self.echo(
                f"  [{i}/{len(targets)}] {topic}: "
                + ", ".join(f"{m.resource} {m.copied:,} copied ({m.skipped:,} newer kept)" for m in moves)
            )
        AuditLog(self.settings).write(
            event(
                self.settings,
                TOPICS_MIGRATE,
                m.subscriber,
                m.legacy,
                catalog_version=None,
                count=m.copied,
                detail=m.to_dict(),
            )
            for m in report.moves
        )
        legacy = [m.legacy for m in report.moves]
        futures = self.admin.delete_topics(legacy, operation_timeout=30)
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                raise MigrationError(
                    f"topic {name}",
                    "was copied but could not be deleted",
                    actual=str(exc),
                    fix="delete it by hand (kafka-topics.sh --delete) or run `sharebus topics migrate` again",
                ) from None
            report.deleted.append(name)
        report.seconds = time.monotonic() - started
        return report

    def _copy(self, move: Move, present: set[bytes]) -> None:
        prefix = key_prefix(move.resource)
        latest: dict[bytes, tuple[bytes | None, list[tuple[str, bytes]]]] = {}
        for key, value, headers in self._read(move.legacy):
            if key is not None:
                latest[key] = (value, headers)
        for old_key, (value, headers) in latest.items():
            key = wrap_key(prefix, old_key)
            if key in present:
                move.skipped += 1
                continue
            if value is None:
                move.deleted_rows += 1
                continue
            kept = [(k, v) for k, v in headers if k != naming.H_SHARE_RESOURCE]
            kept.append((naming.H_SHARE_RESOURCE, move.resource.encode()))
            self._produce(move.topic, self._rewrite(move, value), key, kept)
            move.copied += 1

    def _rewrite(self, move: Move, value: bytes) -> bytes:
        """The value under the record-name subject of its new topic (the same schema: usually
        the same id, so the bytes stay as they are)."""
        try:
            old_id, body = split(value)
        except ValueError as exc:
            raise MigrationError(
                f"a record of {move.legacy}",
                "is not in the Confluent wire format",
                actual=str(exc),
                fix="only the router writes subscriber topics; remove the foreign record and run again",
            ) from None
        new_id = self._subjects.get((move.topic, old_id))
        if new_id is None:
            text = self.registry.schema(old_id)
            subject = naming.record_subject(record_fullname(text))
            new_id = self._subjects[(move.topic, old_id)] = self.registry.register(subject, text)
        return value if new_id == old_id else header(new_id) + body

    def _read(self, topic: str) -> Iterator[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
        try:
            for msg in read_to_end(self.consumer, topic, READ_TIMEOUT, call=self._call):
                yield msg.key(), msg.value(), _headers(msg.headers())
        except TimeoutError as exc:
            raise MigrationError(
                f"topic {topic}",
                "was not read to its end",
                actual=str(exc),
                fix="check the broker (`sharebus ops status`) and run the migration again",
            ) from None

    def _produce(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers)  # type: ignore[arg-type]
                return
            except BufferError:
                self.producer.poll(0.05)

    def _flush(self, topic: str) -> None:
        remaining = self.producer.flush(READ_TIMEOUT)
        if remaining:
            raise MigrationError(
                f"copy into {topic}",
                f"{remaining} records not acknowledged by Kafka within {READ_TIMEOUT:.0f}s",
                fix="nothing was deleted; check the broker and run the migration again (it is idempotent)",
            )

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except KafkaException as exc:
            raise UnreachableError(
                f"Kafka at {self.settings.kafka_bootstrap}",
                "did not answer",
                actual=str(exc),
                fix="start the stack (`sharebus stack up`) and run the migration again",
            ) from None
