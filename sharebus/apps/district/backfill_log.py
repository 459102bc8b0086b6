"""Backfill jobs and the recorded reach as a compacted topic beside the catalog topic
(`<catalog topic>.backfills`): any process can read their state (ops status, the CLI)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from sharebus.apps.district.backfill_plan import Reach
from sharebus.core import naming
from sharebus.core.kafka_clients import (
    DOCUMENT_PRODUCER,
    Replication,
    Role,
    admin_client,
    consumer_config,
    deliver,
    ensure_document_topic,
    kafka_config,
    producer_config,
    read_partition,
)
from sharebus.core.settings import Settings

JOB_PREFIX = "job/"
REACH_PREFIX = "reach/"


def log_topic(settings: Settings) -> str:
    return naming.backfills_topic(settings.catalog_topic)


class BackfillLog:
    """Reads and writes the log; `put` is durable when it returns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = log_topic(settings)
        self._producer: Producer | None = None

    def exists(self) -> bool:
        return self.topic in admin_client(kafka_config(self.settings)).list_topics(timeout=10).topics

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        if self._producer is None:
            admin = admin_client(kafka_config(self.settings))
            # a document topic: a reach record lists every entitlement of the city (~100,000)
            ensure_document_topic(admin, self.topic, Replication.of(self.settings))
            self._producer = Producer(
                producer_config(self.settings, Role.ADMIN, {"enable.idempotence": True, **DOCUMENT_PRODUCER})
            )
        deliver(
            self._producer,
            [(self.topic, orjson.dumps(dict(value)), key.encode())],
            f"backfill log {self.topic}",
            "writing a backfill state failed",
            fix="check Kafka (`sharebus stack status`) and retry",
        )

    def put_job(self, state: Mapping[str, Any]) -> None:
        self.put(JOB_PREFIX + str(state["id"]), {**state, "updated_at": time.time()})

    def put_reach(self, city: str, version: str, reach: Mapping[str, Reach]) -> None:
        self.put(
            REACH_PREFIX + city,
            {"version": version, "at": time.time(), "reach": {t: r.to_dict() for t, r in reach.items()}},
        )

    def read(self, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        """The latest value of every key (none before the first write)."""
        if self._producer is None and not self.exists():
            return {}
        consumer = Consumer(
            consumer_config(
                self.settings,
                Role.ADMIN,
                {
                    "group.id": naming.BACKFILL_READER_GROUP,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                },
            )
        )
        out: dict[str, dict[str, Any]] = {}
        try:
            tp = TopicPartition(self.topic, 0)
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            if high <= low:
                return out
            for msg in read_partition(consumer, tp, low, high, timeout):
                key, value = (msg.key() or b"").decode(), msg.value()
                if value is None:
                    out.pop(key, None)
                else:
                    out[key] = orjson.loads(value)
        finally:
            consumer.close()
        return out

    def jobs(self) -> list[dict[str, Any]]:
        """Every job's latest state, newest first."""
        entries = [v for k, v in self.read().items() if k.startswith(JOB_PREFIX)]
        return sorted(entries, key=lambda v: float(v.get("created_at") or 0), reverse=True)

    def reach(self, city: str) -> dict[str, Reach] | None:
        entry = self.read().get(REACH_PREFIX + city)
        if entry is None:
            return None
        return {t: Reach.from_dict(r) for t, r in (entry.get("reach") or {}).items()}

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)


def backfill_status(settings: Settings) -> list[dict[str, Any]]:
    """Every backfill job with its state, newest first (for `ops status` and `sharebus district
    backfills`); read-only, [] when no backfill ever ran."""
    log = BackfillLog(settings)
    try:
        return log.jobs()
    finally:
        log.close()
