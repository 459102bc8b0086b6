"""Sample what subscribers consumed: their consumer groups' committed offsets against the end
offsets of their `share.<subscriber>.*` topics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from sharebus.core import naming
from sharebus.core.errors import UnreachableError
from sharebus.core.kafka_clients import admin_client, partition_offsets
from streams.metrics.rows import PositionRow

NO_GROUP = ""
"""The group of rows for a subscriber topic that no consumer group of the subscriber has read."""


def sample_positions(
    kafka: Mapping[str, object],
    subscribers: Iterable[str],
    *,
    clients: PositionSource | None = None,
    now: datetime | None = None,
    timeout: float = 10.0,
) -> list[PositionRow]:
    """One `PositionRow` per (subscriber, consumer group, topic, partition).

    A subscriber's consumer groups are those whose id starts with `<subscriber>.` (the naming
    rule districts' consumers follow); its topics are `share.<subscriber>.*`. Every group gets a
    row for every partition of every such topic, with committed = -1 where the group has no
    offset yet; a subscriber with topics but no group gets rows with group '' (nobody reads
    them: all of it is lag). `clients` are the Kafka clients to ask (a worker keeps its
    `PositionClients`; when not given, ones made from `kafka` for this sample). Blocking (a few
    admin round trips): from asyncio, run it in an executor and hand the rows to
    `MetricsSink.add_positions`.
    """
    own: PositionClients | None = None
    if clients is None:
        clients = own = PositionClients(kafka)  # this sample's alone
    ts = now or datetime.now(UTC)
    wanted = sorted(set(subscribers))
    try:
        return _sample(clients, wanted, ts, timeout)
    except KafkaException as exc:
        raise UnreachableError(
            f"Kafka at {kafka['bootstrap.servers']}",
            "did not answer the consumer-position sample",
            actual=str(exc)[:500],
            fix="check that Kafka runs (`sharebus stack status`) and SHAREBUS_KAFKA_BOOTSTRAP",
        ) from None
    finally:
        if own is not None:
            own.close()


def _sample(
    clients: PositionSource, subscribers: list[str], ts: datetime, timeout: float
) -> list[PositionRow]:
    admin = clients.admin
    metadata = admin.list_topics(timeout=timeout)
    partitions: dict[str, list[tuple[str, int]]] = {}
    for sub in subscribers:
        prefix = naming.share_prefix(sub)
        partitions[sub] = sorted(
            (name, pid)
            for name, topic in metadata.topics.items()
            if name.startswith(prefix)
            for pid in topic.partitions
        )
    every = [tp for tps in partitions.values() for tp in tps]
    if not every:
        return []
    ends = clients.end_offsets(every, timeout)
    listing = admin.list_consumer_groups(request_timeout=timeout).result()
    group_ids = sorted(g.group_id for g in (listing.valid or []))
    groups = {
        sub: [g for g in group_ids if g.startswith(f"{sub}.")] for sub in subscribers if partitions[sub]
    }
    # All groups' requests first, then their answers: one round trip's wait, not one per group.
    pending = {
        (sub, g): _ask_committed(admin, g, partitions[sub], timeout) for sub, gs in groups.items() for g in gs
    }
    rows: list[PositionRow] = []
    for sub, subscriber_groups in groups.items():
        if not subscriber_groups:
            rows.extend(PositionRow(ts, sub, t, p, -1, ends[(t, p)], NO_GROUP) for t, p in partitions[sub])
        for group in subscriber_groups:
            committed = _committed(pending[(sub, group)].result())
            rows.extend(
                PositionRow(ts, sub, t, p, committed.get((t, p), -1), ends[(t, p)], group)
                for t, p in partitions[sub]
            )
    return rows


class PositionSource(Protocol):
    """What a position sample asks: an AdminClient (topics, groups, committed offsets) and the
    end offsets of partitions."""

    @property
    def admin(self) -> Any: ...

    def end_offsets(
        self, partitions: list[tuple[str, int]], timeout: float
    ) -> dict[tuple[str, int], int]: ...


class PositionClients:
    """The long-lived clients of a worker's position samples: one AdminClient and one
    assign-only consumer, made on first use (a client per sample logged in to Kafka each time)."""

    def __init__(self, kafka: Mapping[str, object]) -> None:
        self.kafka = kafka
        self._admin: Any = None
        self._consumer: Consumer | None = None

    @property
    def admin(self) -> Any:
        if self._admin is None:
            self._admin = admin_client(self.kafka)
        return self._admin

    def end_offsets(self, partitions: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], int]:
        if self._consumer is None:
            self._consumer = Consumer(
                {**self.kafka, "group.id": naming.OPS_READER_GROUP, "enable.auto.commit": False}
            )
        ends, _ = partition_offsets(self._consumer, partitions, timeout)  # a gone topic: no row
        return ends

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._admin = None


def _ask_committed(admin: Any, group: str, partitions: list[tuple[str, int]], timeout: float) -> Any:
    # One group per request: confluent-kafka's list_consumer_group_offsets takes a single group.
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in partitions])]
    return admin.list_consumer_group_offsets(request, request_timeout=timeout)[group]


def _committed(result: Any) -> dict[tuple[str, int], int]:
    # A partition without a committed offset comes back as OFFSET_INVALID (-1001): store -1.
    return {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else -1) for tp in result.topic_partitions}
