"""Reading a few records by position: the timestamps lag-in-seconds and freshness need, and the
latest dead letters with their reasons. Assign-only (never joins or commits a group)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from sharebus.core import naming
from sharebus.core.kafka_clients import partition_offsets
from sharebus.core.naming import H_CHECK, H_REASON, H_RESOURCE, H_UNIT
from streams.ops.model import TP, DeadLetter, RecordAt


class RecordReader:
    """One small consumer; blocking; use from one thread."""

    def __init__(self, kafka: Mapping[str, object]) -> None:
        self.consumer = Consumer(
            {
                **kafka,
                "group.id": naming.OPS_READER_GROUP,  # assign() only: never joins, never commits
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 20,
                "max.partition.fetch.bytes": 65536,
                "fetch.max.bytes": 1048576,
                "queued.max.messages.kbytes": 2048,
            }
        )

    def offsets(
        self, partitions: list[TP], *, earliest: bool = False, timeout: float = 10.0
    ) -> tuple[dict[TP, int], list[TP]]:
        """End (or start) offsets of `partitions` in one call, and those whose topic is gone."""
        return partition_offsets(self.consumer, partitions, timeout, earliest=earliest)

    def read(self, ranges: Mapping[TP, tuple[int, int]], *, timeout: float = 3.0) -> dict[TP, list[Any]]:
        """Messages of each partition from the first offset (or the next one that exists) up to
        the second (exclusive); partitions not answered within `timeout` stay incomplete."""
        if not ranges:
            return {}
        got: dict[TP, list[Any]] = {tp: [] for tp in ranges}
        pending = {tp for tp, (lo, hi) in ranges.items() if hi > lo}
        self.consumer.assign([TopicPartition(t, p, ranges[(t, p)][0]) for t, p in pending])
        deadline = time.monotonic() + timeout
        try:
            while pending and time.monotonic() < deadline:
                for msg in self.consumer.consume(500, 0.1):
                    tp = (msg.topic(), msg.partition())
                    if tp not in pending:
                        continue
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            pending.discard(tp)
                        continue
                    offset = msg.offset() or 0
                    if offset >= ranges[tp][1]:
                        if not got[tp]:  # the range was compacted or deleted away: the next record
                            got[tp].append(msg)
                        pending.discard(tp)
                        continue
                    got[tp].append(msg)
                    if offset >= ranges[tp][1] - 1:
                        pending.discard(tp)
        finally:
            self.consumer.unassign()
        return got

    def timestamps(self, wanted: Iterable[RecordAt], *, timeout: float = 3.0) -> dict[RecordAt, float]:
        """Timestamp (epoch s) of the record at each (topic, partition, offset), or of the next
        one when compaction or retention removed it. One offset per partition per call."""
        by_tp: dict[TP, int] = {}
        for topic, part, offset in wanted:
            by_tp.setdefault((topic, part), offset)
        answers = self.read({tp: (o, o + 1) for tp, o in by_tp.items()}, timeout=timeout)
        out: dict[RecordAt, float] = {}
        for tp, msgs in answers.items():
            if msgs:
                out[(tp[0], tp[1], by_tp[tp])] = msgs[0].timestamp()[1] / 1000.0
        return out

    def dead_letters(self, ranges: Mapping[TP, tuple[int, int]], *, timeout: float = 3.0) -> list[DeadLetter]:
        """The dead letters in `ranges`, newest first."""
        out = []
        for (topic, part), msgs in self.read(ranges, timeout=timeout).items():
            for msg in msgs:
                headers = {k: (v or b"").decode(errors="replace") for k, v in msg.headers() or ()}
                out.append(
                    DeadLetter(
                        topic,
                        part,
                        msg.offset() or 0,
                        msg.timestamp()[1] / 1000.0,
                        headers.get(H_REASON, ""),
                        headers.get(H_CHECK, ""),
                        headers.get(H_RESOURCE, ""),
                        headers.get(H_UNIT, ""),
                    )
                )
        return sorted(out, key=lambda d: (d.at, d.offset), reverse=True)

    def close(self) -> None:
        self.consumer.close()
