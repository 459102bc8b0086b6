"""Kafka client configuration from the one settings model: bootstrap, SASL/SCRAM and principal per role."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from pydantic import SecretStr

from sharebus.core import naming
from sharebus.core.errors import ConfigError, UnreachableError
from sharebus.core.kafka_chatter import CHATTER
from sharebus.core.settings import Settings

TopicSpecs = dict[str, tuple[int, dict[str, str]]]
"""Topic name → (partitions, config)."""

MECHANISM = "SCRAM-SHA-512"
JAVA_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


class Role(StrEnum):
    """Who a client acts as; each role is one Kafka principal with its own ACLs."""

    ADMIN = "admin"  # super user: the CLI, the registry, `acl sync`, tests
    ROUTER = "router"  # router workers: read raw, write subscriber and dead-letter topics
    CONNECT = "connect"  # Kafka Connect and its Debezium connectors
    CLIENT = "client"  # district-side commands: SHAREBUS_KAFKA_USER, else the admin


def principal(settings: Settings, role: Role) -> tuple[str, SecretStr]:
    """(user, password) of `role`."""
    if role is Role.ROUTER:
        return settings.kafka_router_user, settings.kafka_router_password
    if role is Role.CONNECT:
        return settings.kafka_connect_user, settings.kafka_connect_password
    if role is Role.CLIENT and settings.kafka_user:
        return settings.kafka_user, settings.kafka_password or SecretStr("")
    return settings.kafka_admin_user, settings.kafka_admin_password


def http_login(settings: Settings, role: Role = Role.ADMIN) -> tuple[str, str] | None:
    """(user, password) `role` logs in to the bus's web services with — the schema registry, the
    worker's web server — over HTTP basic auth (they check it as a Kafka login); None when the
    bus has no logins (no SASL)."""
    if not settings.kafka_secure:
        return None
    user, password = principal(settings, role)
    return user, password.get_secret_value()


def kafka_config(settings: Settings, role: Role = Role.ADMIN) -> dict[str, object]:
    """librdkafka properties every client of `role` starts from: bootstrap, security, and the
    logger that keeps librdkafka's connection chatter in the component's log (kafka_chatter)."""
    conf: dict[str, object] = {"bootstrap.servers": settings.kafka_bootstrap, "logger": CHATTER}
    if settings.kafka_secure:
        user, password = principal(settings, role)
        conf |= scram_config(
            settings.kafka_bootstrap,
            user,
            password.get_secret_value(),
            settings.kafka_security_protocol,
            ca=tls_ca(settings),
        )
    return conf


def tls_ca(settings: Settings) -> Path | None:
    """The CA file Kafka clients verify the brokers against (None without TLS); a missing one is a
    clear error here rather than librdkafka's at the first connection."""
    if not settings.kafka_tls:
        return None
    ca = settings.tls_ca
    if not ca.is_file():
        raise ConfigError(
            f"TLS certificate authority {ca}",
            "does not exist",
            expected="the PEM file of the CA that signed the brokers' certificates",
            actual="no such file",
            fix="`sharebus stack up` makes the local stack's CA; for another bus set"
            " SHAREBUS_TLS_CA_FILE to its CA",
        )
    return ca


@dataclass(frozen=True)
class KafkaConnection:
    """What a component needs to reach Kafka as one role: bootstrap and security, plus the
    operator's extra properties per kind of client (SHAREBUS_KAFKA_{CONSUMER,PRODUCER,ADMIN}_EXTRA).
    The component's own properties come between: an extra may tune them, never its identity."""

    base: Mapping[str, object]
    consumer_extra: Mapping[str, str] = field(default_factory=dict)
    producer_extra: Mapping[str, str] = field(default_factory=dict)
    admin_extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return str(self.base["bootstrap.servers"])

    def consumer(self, props: Mapping[str, object]) -> dict[str, object]:
        return {**self.base, **props, **self.consumer_extra}

    def producer(self, props: Mapping[str, object]) -> dict[str, object]:
        return {**self.base, **props, **self.producer_extra}

    def admin(self, props: Mapping[str, object] | None = None) -> dict[str, object]:
        return {**self.base, **(props or {}), **self.admin_extra}


def connection(settings: Settings, role: Role = Role.ADMIN) -> KafkaConnection:
    """The Kafka part of the settings for a component acting as `role`."""
    return KafkaConnection(
        kafka_config(settings, role),
        settings.kafka_consumer_extra,
        settings.kafka_producer_extra,
        settings.kafka_admin_extra,
    )


def consumer_config(settings: Settings, role: Role, props: Mapping[str, object]) -> dict[str, object]:
    """A consumer's properties: bootstrap and security of `role`, `props`, the operator's extras."""
    return connection(settings, role).consumer(props)


def producer_config(settings: Settings, role: Role, props: Mapping[str, object]) -> dict[str, object]:
    """A producer's properties: bootstrap and security of `role`, `props`, the operator's extras."""
    return connection(settings, role).producer(props)


def scram_config(
    bootstrap: str, user: str, password: str, protocol: str = "SASL_SSL", *, ca: Path | None = None
) -> dict[str, object]:
    """librdkafka properties of an arbitrary SCRAM principal (a district's client config); with
    SASL_SSL the brokers' certificates and host names are verified against `ca`."""
    conf: dict[str, object] = {
        "logger": CHATTER,
        "bootstrap.servers": bootstrap,
        "security.protocol": protocol,
        "sasl.mechanisms": MECHANISM,
        "sasl.username": user,
        "sasl.password": password,
    }
    if protocol == "SASL_SSL":
        conf |= {"ssl.endpoint.identification.algorithm": "https"}
        if ca is not None:
            conf["ssl.ca.location"] = str(ca)
    return conf


def admin_client(conf: Mapping[str, object], **extra: object) -> AdminClient:
    """An AdminClient that does not spray librdkafka connection errors on stderr."""
    full: dict[str, object] = {"logger": CHATTER, **conf, **extra}
    return AdminClient(full)  # type: ignore[arg-type]  # `logger` takes a Logger object


def java_jaas(user: str, password_ref: str) -> str:
    """A SCRAM `sasl.jaas.config`; `password_ref` is a config-provider reference, never the secret."""
    return f'{JAVA_SCRAM_LOGIN} required username="{user}" password="{password_ref}";'


def connect_password_ref(settings: Settings) -> str:
    """The Connect principal's password as Connect (and Debezium's schema history) reads it:
    through Kafka's DirectoryConfigProvider, never in clear."""
    return naming.secret_ref(settings.secrets_dir, naming.CONNECT_PASSWORD_SECRET)


def connect_protocol_ref(settings: Settings) -> str:
    """The security protocol as a connector reads it (naming.KAFKA_PROTOCOL_SECRET)."""
    return naming.secret_ref(settings.secrets_dir, naming.KAFKA_PROTOCOL_SECRET)


def java_client_properties(
    settings: Settings, role: Role, password_ref: str, prefix: str = "", *, protocol_ref: str | None = None
) -> dict[str, str]:
    """Security properties of a Java client (Connect worker, Debezium's schema history), each
    key under `prefix`; the password is `password_ref` (e.g. `${dir:<secrets>:<name>}`). With
    `protocol_ref` (a registered connector's config) the protocol is read at each task start and
    the CA is always named (clients ignore it without TLS)."""
    if not settings.kafka_secure:
        return {}
    user, _ = principal(settings, role)
    props = {
        f"{prefix}security.protocol": protocol_ref or settings.kafka_security_protocol,
        f"{prefix}sasl.mechanism": MECHANISM,
        f"{prefix}sasl.jaas.config": java_jaas(user, password_ref),
    }
    if settings.kafka_tls or protocol_ref:  # the CA's path as the Java process sees it
        props |= java_truststore(settings.tls_ca, prefix)
    return props


def java_truststore(ca: Path, prefix: str = "") -> dict[str, str]:
    """A Java client's trust in `ca` (a PEM file), host names verified."""
    return {
        f"{prefix}ssl.truststore.type": "PEM",
        f"{prefix}ssl.truststore.location": str(ca),
        f"{prefix}ssl.endpoint.identification.algorithm": "https",
    }


CREATE_CHUNK = 500
"""Topics per CreateTopics request: one request for thousands of partitions is refused by the
broker (POLICY_VIOLATION "Excessively large number of partitions per request")."""


class Replication(NamedTuple):
    """How every topic the bus creates is replicated (SHAREBUS_KAFKA_REPLICATION_FACTOR and
    _MIN_INSYNC_REPLICAS; producers use acks=all)."""

    factor: int
    min_insync: int

    @classmethod
    def of(cls, settings: Settings) -> Replication:
        return cls(settings.replication_factor, settings.min_insync_replicas)

    def config(self) -> dict[str, str]:
        """The topic config it adds (nothing for a single replica: the broker's default holds)."""
        return {"min.insync.replicas": str(self.min_insync)} if self.factor > 1 else {}


def new_topic(name: str, partitions: int, config: Mapping[str, str], replication: Replication) -> NewTopic:
    return NewTopic(name, partitions, replication.factor, config={**config, **replication.config()})


DOCUMENT_MAX_BYTES = 64 * 1024 * 1024
"""The largest batch, compressed, of a topic holding one document per city (the live catalog, the
entitlements the workers enforced): the seeds-scale catalog is 8.9 MB of text, 0.35 MB in lz4."""

DOCUMENT_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "0",
    "max.message.bytes": str(DOCUMENT_MAX_BYTES),
}

DOCUMENT_PRODUCER = {"compression.type": "lz4", "message.max.bytes": 4 * DOCUMENT_MAX_BYTES}
"""A producer of such documents: librdkafka checks a record before compression, the broker after."""


def align_topic_config(admin: AdminClient, topic: str, config: Mapping[str, str]) -> list[str]:
    """Set the entries of `config` that an existing `topic` lacks or holds otherwise (a topic made
    by an older version of the bus); returns the names of those set."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    current = admin.describe_configs([resource])[resource].result(timeout=30)
    changed = [k for k, v in config.items() if k not in current or current[k].value != v]
    if changed:
        entries = [ConfigEntry(k, config[k], incremental_operation=AlterConfigOpType.SET) for k in changed]
        altered = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
        admin.incremental_alter_configs([altered])[altered].result(timeout=30)
    return changed


def ensure_topics(
    admin: AdminClient, wanted: TopicSpecs, replication: Replication, *, chunk: int = CREATE_CHUNK
) -> list[str]:
    """Create the missing topics of `wanted` (name → (partitions, config)) with `replication`,
    `chunk` topics per request; returns those created."""
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [new_topic(n, p, c, replication) for n, (p, c) in sorted(wanted.items()) if n not in existing]
    created: list[str] = []
    for start in range(0, len(missing), chunk):
        for name, future in admin.create_topics(missing[start : start + chunk]).items():
            try:
                future.result(timeout=30)
                created.append(name)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    return created


def ensure_document_topic(
    admin: AdminClient, topic: str, replication: Replication, *, align: bool = True
) -> None:
    """`topic` exists as a document topic (DOCUMENT_TOPIC_CONFIG); with `align` (a principal
    allowed to alter configs), one made by an older version of the bus is given that config."""
    if not ensure_topics(admin, {topic: (1, DOCUMENT_TOPIC_CONFIG)}, replication) and align:
        align_topic_config(admin, topic, DOCUMENT_TOPIC_CONFIG)


# Errors a topic answers with for a moment after it was created (its leader is still elected).
_JUST_CREATED = frozenset(
    {
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)


def watermarks(consumer: Consumer, tp: TopicPartition, timeout: float) -> tuple[int, int]:
    """The low and high watermark of a partition whose topic may have just been created: the
    moment its metadata or leader lags is waited out for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=min(5.0, max(0.1, timeout))) or (0, 0)
            return low, high
        except KafkaException as exc:
            if time.monotonic() > deadline or exc.args[0].code() not in _JUST_CREATED:
                raise
            time.sleep(0.2)


LATEST_OFFSET, EARLIEST_OFFSET = -1, -2
"""The timestamps Kafka's ListOffsets answers with a partition's end and start offset."""


def partition_offsets(
    consumer: Consumer, partitions: Sequence[tuple[str, int]], timeout: float, *, earliest: bool = False
) -> tuple[dict[tuple[str, int], int], list[tuple[str, int]]]:
    """The end (or, with `earliest`, start) offset of each partition, and the partitions whose
    topic is gone. The consumer's `offsets_for_times` asks every partition's leader at once and
    answers with one list: at the city's ~5,000 partitions the AdminClient's `list_offsets`, one
    Python future per partition, took about 2.6 times its CPU, on a thread beside routing. One
    deleted topic fails the whole call; the topics are then halved until it is found (a few
    calls for a rare event). KafkaException when Kafka does not answer."""
    stamp = EARLIEST_OFFSET if earliest else LATEST_OFFSET
    offsets: dict[tuple[str, int], int] = {}
    gone: list[tuple[str, int]] = []

    def ask(parts: Sequence[tuple[str, int]]) -> None:
        if not parts:
            return
        try:
            answers = consumer.offsets_for_times(
                [TopicPartition(t, p, stamp) for t, p in parts], timeout=timeout
            )
        except KafkaException as exc:
            if exc.args[0].code() not in _GONE:
                raise
            topics = sorted({t for t, _ in parts})
            if len(topics) == 1:
                gone.extend(parts)
                return
            half = set(topics[: len(topics) // 2])
            ask([tp for tp in parts if tp[0] in half])
            ask([tp for tp in parts if tp[0] not in half])
            return
        for tp in answers:
            if tp.error is None:
                offsets[(tp.topic, tp.partition)] = int(tp.offset)
            elif tp.error.code() in _GONE:
                gone.append((tp.topic, tp.partition))
            else:
                raise KafkaException(tp.error)

    ask(partitions)
    return offsets, gone


_GONE = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}
)


def read_partition(
    consumer: Consumer,
    tp: TopicPartition,
    start: int,
    high: int,
    timeout: float,
    *,
    on_error: Callable[[KafkaError], None] | None = None,
    strict: bool = False,
) -> Iterator[Message]:
    """The messages of partition `tp` from offset `start` up to `high` (exclusive): stops at the
    end of the partition or after `timeout` seconds (TimeoutError then, when `strict`). Errors
    other than the end of the partition go to `on_error`. `consumer` needs enable.partition.eof."""
    consumer.assign([TopicPartition(tp.topic, tp.partition, start)])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return
            if on_error is not None:
                on_error(error)
            continue
        yield msg
        if (msg.offset() or 0) >= high - 1:
            return
    if strict:
        raise TimeoutError(f"{tp.topic}[{tp.partition}] not read to offset {high} within {timeout:.0f}s")


Record = tuple[str, bytes | None, bytes]
"""(topic, value, key): a record for `deliver`."""


def deliver(
    producer: Producer,
    records: Iterable[Record],
    subject: str,
    problem: str,
    *,
    fix: str,
    timeout: float = 30.0,
) -> int:
    """Produce `records` and return once Kafka acknowledged every one (how many); otherwise an
    UnreachableError (`subject`, `problem`, `fix`) with the delivery errors, or the timeout."""
    errors: list[str] = []

    def done(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    n = 0
    for topic, value, key in records:
        producer.produce(topic, value, key, on_delivery=done)
        n += 1
    if producer.flush(timeout) > 0 or errors:
        actual = "; ".join(errors) or f"not delivered within {timeout:.0f} s"
        raise UnreachableError(subject, problem, actual=actual, fix=fix)
    return n


def read_to_end(
    consumer: Consumer,
    topic: str,
    timeout: float,
    *,
    call: Callable[[Callable[[], Any]], Any] = lambda fn: fn(),
    on_error: Callable[[KafkaError], None] | None = None,
) -> Iterator[Message]:
    """Every message of `topic`: each partition from its low to its high watermark as they are
    at the start (TimeoutError naming the partition when one is not read within `timeout`).
    `call` runs the metadata requests (a KafkaWatch's `call`, to wait out an outage)."""
    meta = call(lambda: consumer.list_topics(topic, timeout=10)).topics.get(topic)
    if meta is None or meta.error is not None:
        return
    for p in sorted(meta.partitions):
        tp = TopicPartition(topic, p)
        low, high = call(partial(consumer.get_watermark_offsets, tp, timeout=10))
        if high > low:
            yield from read_partition(consumer, tp, low, high, timeout, on_error=on_error, strict=True)
