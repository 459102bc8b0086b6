"""Consumer-group commits as they happen, read from Kafka's `__consumer_offsets` (as Burrow does):
when each (group, topic, partition) last committed, which offset listing alone cannot tell."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from sharebus.core import naming
from streams.ops.model import CommitKey

OFFSETS_TOPIC = "__consumer_offsets"
MAX_PER_POLL = 50_000
"""Commit records read per `poll` at most (the rest on the next one): bounds a sample's CPU."""


def parse_commit(key: bytes | None, value: bytes | None) -> tuple[str, str, int, int] | None:
    """(group, topic, partition, offset) of an offset-commit record of `__consumer_offsets`, None
    for any other record (group metadata, tombstones, newer record kinds).

    Key versions 0 and 1 are offset commits: int16 version, then group and topic as int16-length
    strings, then an int32 partition. Every value version (0–4, 4 flexible) starts with int16
    version and the int64 offset."""
    if key is None or value is None or len(key) < 2 or len(value) < 10:
        return None
    try:
        (version,) = struct.unpack_from(">h", key, 0)
        if version not in (0, 1):
            return None
        (glen,) = struct.unpack_from(">h", key, 2)
        group = key[4 : 4 + glen].decode()
        (tlen,) = struct.unpack_from(">h", key, 4 + glen)
        topic = key[6 + glen : 6 + glen + tlen].decode()
        (partition,) = struct.unpack_from(">i", key, 6 + glen + tlen)
        (offset,) = struct.unpack_from(">q", value, 2)
    except (struct.error, UnicodeDecodeError):
        return None
    return group, topic, partition, offset


class CommitTracker:
    """Follows `__consumer_offsets` from its end (at creation); `poll` drains what is new. Use
    from one thread. `since` is when observation began: commits before it are unknown."""

    def __init__(
        self, kafka: Mapping[str, object], *, timeout: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self.last_commit: dict[CommitKey, float] = {}
        self.read = 0
        self.consumer = Consumer(
            {
                **kafka,
                "group.id": naming.OPS_COMMITS_GROUP,  # assign() only: never joins, never commits
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 50,
                "queued.max.messages.kbytes": 4096,
            }
        )
        self.since = clock()
        meta = self.consumer.list_topics(OFFSETS_TOPIC, timeout=timeout).topics.get(OFFSETS_TOPIC)
        partitions = sorted(meta.partitions) if meta is not None and meta.partitions else []
        start = []
        for p in partitions:
            _, high = self.consumer.get_watermark_offsets(TopicPartition(OFFSETS_TOPIC, p), timeout=timeout)
            start.append(TopicPartition(OFFSETS_TOPIC, p, high))
        self.consumer.assign(start)

    def poll(self, keep: Callable[[str], bool]) -> dict[CommitKey, float]:
        """Read the commits made since the last poll; keep those of groups `keep` accepts.
        Returns the newest commit time per (group, topic, partition) seen so far."""
        read = 0
        while read < MAX_PER_POLL:
            msgs: list[Any] = self.consumer.consume(2000, 0.05)
            if not msgs:
                break
            for msg in msgs:
                if msg.error() is not None:  # partition EOF and transient errors: nothing to read
                    continue
                read += 1
                parsed = parse_commit(msg.key(), msg.value())
                if parsed is None or not keep(parsed[0]):
                    continue
                group, topic, partition, _ = parsed
                stamp = msg.timestamp()[1] / 1000.0
                key = (group, topic, partition)
                if stamp > self.last_commit.get(key, 0.0):
                    self.last_commit[key] = stamp
        self.read += read
        return self.last_commit

    def close(self) -> None:
        self.consumer.close()
