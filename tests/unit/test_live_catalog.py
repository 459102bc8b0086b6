"""A catalog that cannot be published says why: too large for the topic (and how to raise it), or
Kafka not taking it."""

from __future__ import annotations

from confluent_kafka import KafkaError

from sharebus.core.errors import ConfigError, UnreachableError
from sharebus.core.settings import Settings
from streams.router.live_catalog import _not_published


def test_a_catalog_too_large_for_its_topic_names_the_topic_the_size_and_the_fix() -> None:
    settings = Settings(catalog_topic="sharebus.catalog")
    error = _not_published(settings, b"x" * 2_500_000, [KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)])
    assert isinstance(error, ConfigError)
    text = str(error)
    assert "catalog topic sharebus.catalog" in text and "2.5 MB" in text
    assert "sharebus catalog publish" in text and "max.message.bytes" in text


def test_a_catalog_kafka_did_not_take_is_an_unreachable_error() -> None:
    error = _not_published(Settings(), b"{}", [])
    assert isinstance(error, UnreachableError) and "not delivered within 30 s" in str(error)
