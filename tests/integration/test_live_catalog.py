"""The live catalog at the city's size: published and read back through Kafka, also on a catalog
topic made by an older version of the bus (which took records of 1 MB at most)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from confluent_kafka.admin import ConfigResource, ResourceType

from bench.scale.catalog import Scale, write
from sharebus.catalog.load import read_catalog_dir
from sharebus.core.kafka_clients import DOCUMENT_TOPIC_CONFIG, admin_client, connection
from sharebus.core.settings import Settings
from streams.router.live_catalog import encode_texts, latest_catalog, publish_catalog


def test_a_catalog_over_a_megabyte_publishes_on_a_catalog_topic_of_an_older_version(
    stack_settings: Settings,
    tmp_path: Path,
    unique: Callable[[str], str],
    topic_factory: Callable[..., str],
) -> None:
    written = write(Scale(departments=8, resources=600), tmp_path / "chongqing")
    texts = read_catalog_dir(written.directory)
    assert len(encode_texts(texts)) > 1_000_000  # the broker's default record limit
    topic = topic_factory(unique("catalog"), config={"cleanup.policy": "compact"})  # as before
    settings = stack_settings.model_copy(update={"catalog_topic": topic, "catalog_dir": tmp_path})

    published = publish_catalog(settings, "chongqing")

    assert latest_catalog(settings, "chongqing") == texts
    assert published.offset == 0
    resource = ConfigResource(ResourceType.TOPIC, topic)
    admin = admin_client(connection(settings).admin())
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert config["max.message.bytes"].value == DOCUMENT_TOPIC_CONFIG["max.message.bytes"]
