"""The live catalog: its files published to a compacted topic, read back and validated by workers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from sharebus.catalog.apart import parse_catalog_apart
from sharebus.catalog.issues import CatalogError
from sharebus.catalog.load import CatalogTexts, city_dir, parse_catalog, read_catalog_dir
from sharebus.catalog.models import Catalog
from sharebus.core import naming
from sharebus.core.errors import ConfigError, SharebusError, UnreachableError
from sharebus.core.kafka_clients import (
    DOCUMENT_PRODUCER,
    DOCUMENT_TOPIC_CONFIG,
    Replication,
    Role,
    admin_client,
    consumer_config,
    ensure_document_topic,
    kafka_config,
    producer_config,
    read_partition,
    watermarks,
)
from sharebus.core.settings import Settings
from sharebus.core.signing import Signer, Verifier, signer, verifier

Headers = dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None
"""A record's headers as confluent-kafka gives them."""


@dataclass(frozen=True)
class Published:
    city: str
    version: str
    offset: int
    key_id: str  # of the admin's key that signed it


def encode_texts(texts: CatalogTexts) -> bytes:
    return orjson.dumps(dataclasses.asdict(texts))


def decode_texts(raw: bytes) -> CatalogTexts:
    data = orjson.loads(raw)
    data["unknown_files"] = tuple(data.get("unknown_files") or ())
    return CatalogTexts(**data)


def catalog_from(texts: CatalogTexts, source: str, *, apart: bool = False) -> Catalog:
    """Validate catalog texts; CatalogError lists every problem, naming `source`. With `apart`
    (a long-lived process: the worker) they are parsed in a child process (`parse_catalog_apart`)."""
    catalog, issues = parse_catalog_apart(texts) if apart else parse_catalog(texts)
    if catalog is None:
        raise CatalogError(source, issues)
    return catalog


def ensure_catalog_topic(settings: Settings, role: Role = Role.ADMIN, *, align: bool = False) -> None:
    """The catalog topic exists; with `align` (the admin, publishing) one made by an older version
    takes the city's catalog (it took records of 1 MB at most)."""
    admin = admin_client(kafka_config(settings, role))
    ensure_document_topic(admin, settings.catalog_topic, Replication.of(settings), align=align)


def signed_headers(signer: Signer, record: bytes) -> list[tuple[str, str | bytes | None]]:
    """The headers that make `record` a catalog version the workers accept."""
    return [
        (naming.H_CATALOG_SIGNATURE, signer.sign(record).encode()),
        (naming.H_CATALOG_KEY_ID, signer.key_id.encode()),
    ]


def verified_texts(raw: bytes, headers: Headers, verifier: Verifier, what: str) -> CatalogTexts:
    """The texts of a catalog version, once its signature is the admin's (else SignatureError)."""
    pairs = headers.items() if isinstance(headers, dict) else headers or ()
    found = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in pairs
        if value is not None
    }
    verifier.verify(raw, found.get(naming.H_CATALOG_SIGNATURE), found.get(naming.H_CATALOG_KEY_ID), what)
    return decode_texts(raw)


def publish_catalog(settings: Settings, city: str | None = None) -> Published:
    """Validate the city's catalog folder and publish it, signed by the admin, as the live policy
    (key = city). Only the admin may: it alone writes the catalog topic and holds the signing key."""
    city = city or settings.city
    folder = city_dir(settings.catalog_dir, city)
    texts = read_catalog_dir(folder)
    catalog = catalog_from(texts, str(folder))
    sign = signer(settings)
    ensure_catalog_topic(settings, Role.ADMIN, align=True)
    producer = Producer(
        producer_config(settings, Role.ADMIN, {"enable.idempotence": True, **DOCUMENT_PRODUCER})
    )
    offsets: list[int] = []
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, msg: object) -> None:
        if err is not None:
            errors.append(err)
        else:
            offsets.append(msg.offset())  # type: ignore[attr-defined]

    record = encode_texts(texts)
    try:
        producer.produce(
            settings.catalog_topic,
            record,
            city.encode(),
            headers=signed_headers(sign, record),
            on_delivery=delivered,
        )
    except KafkaException as exc:
        errors.append(exc.args[0])
    if errors or producer.flush(30):
        raise _not_published(settings, record, errors)
    return Published(city, catalog.version, offsets[0], sign.key_id)


def _not_published(settings: Settings, record: bytes, errors: list[KafkaError]) -> SharebusError:
    where = f"catalog topic {settings.catalog_topic}"
    actual = "; ".join(e.str() for e in errors) or "not delivered within 30 s"
    if any(e.code() == KafkaError.MSG_SIZE_TOO_LARGE for e in errors):
        return ConfigError(
            where,
            f"takes the catalog ({len(record) / 1e6:.1f} MB of text)",
            actual=actual,
            fix="publish once as the admin (`sharebus catalog publish`): it raises the topic's"
            f" max.message.bytes to {DOCUMENT_TOPIC_CONFIG['max.message.bytes']}",
        )
    return UnreachableError(
        where,
        "publishing the catalog failed",
        actual=actual,
        fix="check Kafka (`sharebus stack status`) and retry",
    )


def latest_catalog(
    settings: Settings, city: str | None = None, timeout: float = 15.0, role: Role = Role.ADMIN
) -> CatalogTexts | None:
    """The last published catalog texts of `city`, or None when none was ever published; a last
    version the admin's key does not verify is SignatureError (it is never used)."""
    city = city or settings.city
    check = verifier(settings)
    ensure_catalog_topic(settings, role)
    consumer = Consumer(
        consumer_config(
            settings,
            role,
            {
                "group.id": naming.CATALOG_READER_GROUP,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    try:
        tp = TopicPartition(settings.catalog_topic, 0)
        low, high = watermarks(consumer, tp, timeout)
        if high <= low:
            return None
        latest: Message | None = None
        for msg in read_partition(consumer, tp, low, high, timeout):
            if msg.key() == city.encode():
                latest = msg
        if latest is None or latest.value() is None:
            return None
        what = f"catalog version of {city} at {settings.catalog_topic} offset {latest.offset()}"
        return verified_texts(latest.value() or b"", latest.headers(), check, what)
    finally:
        consumer.close()


def startup_catalog(settings: Settings, role: Role = Role.ROUTER) -> Catalog:
    """The catalog a worker starts with: the live one, signed by the admin. A worker never
    publishes one itself (it may not write the catalog topic)."""
    texts = latest_catalog(settings, role=role)
    if texts is None:
        raise ConfigError(
            f"catalog topic {settings.catalog_topic}",
            f"holds no catalog of {settings.city}: the worker has no policy to route by",
            expected="a catalog version published by the admin",
            actual="none published yet",
            fix="publish one as the admin: `sharebus catalog publish` (`sharebus run` does), then start"
            " the worker",
        )
    return catalog_from(texts, f"topic {settings.catalog_topic}", apart=True)
