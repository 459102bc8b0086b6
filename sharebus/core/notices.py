"""Writes notices to the recipients' notification topics (`notice.<recipient>`, JSON keyed by
demand), making a topic on first use; kept 90 days (the audit keeps every step for good)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from confluent_kafka import Producer

from sharebus.core import naming
from sharebus.core.kafka_clients import (
    Replication,
    Role,
    admin_client,
    deliver,
    ensure_topics,
    kafka_config,
    producer_config,
)
from sharebus.core.settings import Settings

NOTICE_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(90 * 24 * 3600 * 1000)}
Notice = tuple[str, str, dict[str, Any]]
"""(recipient, key — the demand id, the notice)."""


class NoticeWriter:
    """One producer for a component's notices (the admin's steps, the router's withdrawals)."""

    def __init__(self, settings: Settings, role: Role) -> None:
        self.settings = settings
        self.role = role
        self.producer = Producer(producer_config(settings, role, {"acks": "all", "linger.ms": 5}))
        self._made: set[str] = set()

    def send(self, notices: Iterable[Notice], timeout: float = 30.0) -> int:
        """Write `notices`; returns once Kafka has them (UnreachableError when it does not)."""
        batch = [(naming.notice_topic(r), key, body) for r, key, body in notices]
        missing = {t for t, _, _ in batch} - self._made
        if missing:
            admin = admin_client(kafka_config(self.settings, self.role))
            ensure_topics(
                admin, {t: (1, NOTICE_TOPIC_CONFIG) for t in missing}, Replication.of(self.settings)
            )
            self._made |= missing
        return deliver(
            self.producer,
            [(topic, orjson.dumps(body), key.encode()) for topic, key, body in batch],
            "notification topics",
            f"{len(batch)} notice(s) not written",
            fix="check the broker (`sharebus ops status`)",
            timeout=timeout,
        )
