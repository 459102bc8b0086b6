"""Waiting on Kafka in tests and benchmarks: a topic to exist, a topic to hold a number of records."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Consumer, Message, TopicPartition

from sharebus.core import naming
from sharebus.core.kafka_clients import admin_client, connection, watermarks
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until

T = TypeVar("T")


def wait_for_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list[int]:
    """The partition ids of `topic`, once it exists with its partitions (the router creates topics
    when a policy first needs them)."""
    admin = admin_client(connection(settings).admin())

    def partitions() -> list[int]:
        meta = admin.list_topics(topic, timeout=5).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        return sorted(meta.partitions)

    return wait_until(partitions, timeout, f"topic {topic} to exist")


def end_offsets(consumer: Consumer, topic: str, partitions: list[int]) -> int:
    """The sum of `topic`'s end offsets (records ever written, before compaction or retention)."""
    return sum(watermarks(consumer, TopicPartition(topic, p), timeout=10)[1] for p in partitions)


def wait_for_records(settings: Settings, topic: str, count: int, timeout: float = 60.0) -> int:
    """Block until `topic` holds at least `count` records (its end offsets); the count seen."""
    partitions = wait_for_topic(settings, topic, timeout)
    probe = Consumer(connection(settings).consumer({"group.id": naming.TEST_PROBE_GROUP}))
    seen = [0]

    def enough() -> int:
        seen[0] = end_offsets(probe, topic, partitions)
        return seen[0] if seen[0] >= count else 0

    try:
        return wait_until(enough, timeout, f"{topic} to hold {count} records", last=lambda: seen[0])
    finally:
        probe.close()


def read_until(
    consumer: Consumer,
    settings: Settings,
    topic: str,
    *,
    decode: Callable[[Message], T | None],
    until: Callable[[list[T]], bool],
    timeout: float = 60.0,
    settle: float = 0.0,
) -> list[T]:
    """Read `topic` from its start (assigned: no group join) once it exists, keeping
    `decode(message)` of each message (None skips it), until `until(kept)` holds; then `settle`
    seconds more, to catch anything extra. `WaitTimeout` names the topic and the count read."""
    started = time.monotonic()
    partitions = wait_for_topic(settings, topic, timeout)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    kept: list[T] = []
    done_at: list[float] = []

    def settled() -> bool:
        if not done_at and until(kept):
            done_at.append(time.monotonic())
        if done_at and time.monotonic() - done_at[0] >= settle:
            return True
        msg = consumer.poll(0.3)
        if msg is not None and not msg.error():
            item = decode(msg)
            if item is not None:
                kept.append(item)
        return False

    left = max(0.0, timeout - (time.monotonic() - started))
    what = f"the records expected on {topic}"
    wait_until(settled, left + settle, what, interval=0, last=lambda: f"{len(kept)} read")
    return kept
