"""The catalog in force, as the router sees it: the last version published on the catalog topic
(the local catalog folder when none was published yet), compiled with the deployment's keys."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition

from sharebus.catalog.load import CatalogTexts, city_dir, load_catalog
from sharebus.catalog.models import Catalog
from sharebus.core import naming
from sharebus.core.kafka_clients import Role, consumer_config
from sharebus.core.keys import pseudonym_key
from sharebus.core.settings import Settings
from streams.policy.compiled import Policy, compile_policy
from streams.router.live_catalog import catalog_from, latest_catalog


def live_catalog(settings: Settings) -> Catalog:
    texts = latest_catalog(settings)
    if texts is None:
        return load_catalog(city_dir(settings.catalog_dir, settings.city))
    return catalog_from(texts, f"topic {settings.catalog_topic}")


def compile_live(settings: Settings, catalog: Catalog) -> Policy:
    """The policy of `catalog` with the pseudonym key the workers use (so pseudonyms match)."""
    return compile_policy(catalog, pseudonym_key=pseudonym_key(settings))


class LivePolicy:
    """The catalog in force and its policy for a follower that looks every few seconds: read again
    only when the catalog topic grew (one watermark request, not the topic, on every look), parsed
    and compiled again only when a new version was published (the city's takes ~2 s each)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._texts: CatalogTexts | None = None
        self._catalog: Catalog | None = None
        self._policy: Policy | None = None
        self._end: int | None = None  # the catalog topic's end offset when last read
        self._consumer: Consumer | None = None

    def catalog(self) -> tuple[Catalog, bool]:
        """The catalog in force, and whether it changed since the last call."""
        end = self._topic_end()
        if end is not None and end == self._end and self._catalog is not None:
            return self._catalog, False
        texts = latest_catalog(self.settings)
        self._end = end
        if texts is not None and texts == self._texts and self._catalog is not None:
            return self._catalog, False
        if texts is None:  # nothing published yet: the local folder
            catalog = load_catalog(city_dir(self.settings.catalog_dir, self.settings.city))
        else:
            catalog = catalog_from(texts, f"topic {self.settings.catalog_topic}")
        changed = self._catalog is None or catalog.version != self._catalog.version
        self._texts, self._catalog, self._policy = texts, catalog, None
        return catalog, changed

    def _topic_end(self) -> int | None:
        """The catalog topic's end offset (None before it exists: then it is read every time)."""
        if self._consumer is None:
            props = {"group.id": naming.CATALOG_READER_GROUP, "enable.auto.commit": False}
            self._consumer = Consumer(consumer_config(self.settings, Role.ADMIN, props))
        try:
            return int(
                self._consumer.get_watermark_offsets(TopicPartition(self.settings.catalog_topic, 0), 10)[1]
            )
        except KafkaException:
            return None  # not there yet, or Kafka away: `latest_catalog` says which

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def policy(self) -> Policy:
        """The policy of the catalog `catalog()` last returned."""
        catalog = self._catalog if self._catalog is not None else self.catalog()[0]
        if self._policy is None:
            self._policy = compile_live(self.settings, catalog)
        return self._policy
