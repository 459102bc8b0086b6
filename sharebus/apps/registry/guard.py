"""The registry's guard: a login is a Kafka login (`sharebus.core.logins`); the router and the
admin write, every other principal reads the subjects of the resources it is entitled to now (the
live catalog's demands)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from schemas.derive import share_subject
from schemas.registry_guard import Caller, GuardUnavailable
from sharebus.catalog.issues import CatalogError
from sharebus.core import naming
from sharebus.core.kafka_clients import Role, consumer_config, read_partition
from sharebus.core.logins import KafkaLogins, LoginUnavailable
from sharebus.core.settings import Settings
from sharebus.core.signing import SignatureError, verifier
from streams.policy.entitled import Window, entitlement_windows, in_window
from streams.router.live_catalog import catalog_from, verified_texts

log = logging.getLogger(__name__)


class SubjectIndex:
    """subscriber → registry subject → the windows it is entitled in, from the last catalog the
    admin published; read again when a reader asks for a subject it is not entitled to and the
    catalog topic has moved on (a new catalog is published before any worker routes by it)."""

    def __init__(self, settings: Settings, timeout: float = 15.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.tp = TopicPartition(settings.catalog_topic, 0)
        self.consumer = Consumer(
            consumer_config(
                settings,
                Role.ADMIN,
                {
                    "group.id": naming.CATALOG_READER_GROUP,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "fetch.wait.max.ms": 10,
                },
            )
        )
        self.verifier = verifier(settings)
        self._read_to = -1  # the catalog topic's end offset the index is of
        self._index: dict[str, dict[str, list[Window]]] = {}
        self._lock = threading.Lock()

    def may_read(self, subscriber: str, subject: str) -> bool:
        if self._allowed(subscriber, subject):
            return True
        self.refresh()
        return self._allowed(subscriber, subject)

    def _allowed(self, subscriber: str, subject: str) -> bool:
        windows = self._index.get(subscriber, {}).get(subject)
        return windows is not None and in_window(windows, datetime.now(UTC))

    def refresh(self) -> None:
        """Read what the catalog topic gained since the last read; index its city's newest."""
        with self._lock:
            try:
                low, high = self.consumer.get_watermark_offsets(self.tp, timeout=self.timeout)
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    return  # nothing published yet: no reader is entitled to anything
                raise GuardUnavailable(f"catalog topic {self.tp.topic}: {exc.args[0]}") from None
            if high == self._read_to:
                return
            latest: Message | None = None
            city = self.settings.city.encode()
            start = max(low, self._read_to, 0)
            try:
                for msg in read_partition(self.consumer, self.tp, start, high, self.timeout, strict=True):
                    if msg.key() == city and msg.value() is not None:
                        latest = msg
            except TimeoutError as exc:  # read again at the next miss: never an index of half a read
                raise GuardUnavailable(f"catalog topic {self.tp.topic}: {exc}") from None
            self._read_to = high
            if latest is not None:
                self._index = self._build(latest)

    def _build(self, msg: Message) -> dict[str, dict[str, list[Window]]]:
        what = f"catalog version at {self.tp.topic} offset {msg.offset()}"
        try:
            texts = verified_texts(msg.value() or b"", msg.headers(), self.verifier, what)
            catalog = catalog_from(texts, what)
        except SignatureError as exc:  # refused by the workers too: the index stays as it was
            log.error("the published catalog is not the admin's; readers keep their subjects: %s", exc)
            return self._index
        except CatalogError as exc:  # kept out of the workers too: the index stays as it was
            log.error("the published catalog does not validate; readers keep their subjects: %s", exc)
            return self._index
        city = catalog.city.id
        index = {
            subscriber: {share_subject(city, res): windows for res, windows in by_resource.items()}
            for subscriber, by_resource in entitlement_windows(catalog).items()
        }
        log.info("readers' subjects from catalog %s: %d subscribers", catalog.version, len(index))
        return index

    def close(self) -> None:
        self.consumer.close()


class BusGuard:
    """The registry's `Guard`: Kafka logins, writers by name, readers by the subject index."""

    def __init__(self, settings: Settings, logins: KafkaLogins, index: SubjectIndex) -> None:
        self.writers = frozenset({settings.kafka_admin_user, settings.kafka_router_user})
        self.logins = logins
        self.index = index

    def caller(self, user: str, password: str) -> Caller | None:
        try:
            if not self.logins.check(user, password):
                return None
        except LoginUnavailable as exc:
            raise GuardUnavailable(exc.problem) from None
        if user in self.writers:
            return Caller(user, True, lambda _subject: True)
        return Caller(user, False, lambda subject: self.index.may_read(user, subject))
