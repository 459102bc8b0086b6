"""Consumer-position sampling on a fake confluent-kafka AdminClient: which groups and topics
belong to a subscriber, offsets without a commit, subscribers nobody consumes for, Kafka down."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from sharebus.core.errors import UnreachableError
from streams.metrics.positions import NO_GROUP, sample_positions
from streams.metrics.rows import PositionRow

NOW = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


@dataclass
class Topic:
    partitions: dict[int, object]


@dataclass
class Group:
    group_id: str


@dataclass
class FakeAdmin:
    topics: dict[str, int]  # name → partition count
    ends: dict[tuple[str, int], int]
    committed: dict[str, dict[tuple[str, int], int]]  # group → committed offsets
    asked: list[str] = field(default_factory=list)

    def list_topics(self, timeout: float) -> Any:
        return type(
            "Meta", (), {"topics": {t: Topic(dict.fromkeys(range(n))) for t, n in self.topics.items()}}
        )

    @property
    def admin(self) -> FakeAdmin:  # the fake is both of a sample's clients
        return self

    def end_offsets(self, partitions: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], int]:
        return {tp: self.ends[tp] for tp in partitions}

    def list_consumer_groups(self, request_timeout: float) -> Future[Any]:
        return done(type("L", (), {"valid": [Group(g) for g in self.committed], "errors": []}))

    def list_consumer_group_offsets(
        self, request: list[ConsumerGroupTopicPartitions], request_timeout: float
    ) -> dict[str, Future[Any]]:
        (asked,) = request
        self.asked.append(asked.group_id)
        offsets = self.committed[asked.group_id]
        parts = [
            TopicPartition(tp.topic, tp.partition, offsets.get((tp.topic, tp.partition), -1001))
            for tp in asked.topic_partitions
        ]
        return {asked.group_id: done(ConsumerGroupTopicPartitions(asked.group_id, parts))}


def test_positions_of_each_subscriber_group_and_partition() -> None:
    admin = FakeAdmin(
        topics={
            "share.500101.market.enterprise": 2,
            "share.500102.market.enterprise": 1,
            "share.5001011.other": 1,
            "cdc.market.public.enterprise": 3,
        },
        ends={
            ("share.500101.market.enterprise", 0): 10,
            ("share.500101.market.enterprise", 1): 4,
            ("share.500102.market.enterprise", 0): 7,
            ("share.5001011.other", 0): 1,
        },
        committed={
            "500101.sync": {("share.500101.market.enterprise", 0): 8},
            "500101.audit": {},
            "other.500101": {},
        },
    )
    rows = sample_positions(
        {"bootstrap.servers": "kafka:9092"}, ["500101", "500102", "500103"], clients=admin, now=NOW
    )
    assert sorted(rows) == sorted(
        [
            PositionRow(NOW, "500101", "share.500101.market.enterprise", 0, -1, 10, "500101.audit"),
            PositionRow(NOW, "500101", "share.500101.market.enterprise", 1, -1, 4, "500101.audit"),
            PositionRow(NOW, "500101", "share.500101.market.enterprise", 0, 8, 10, "500101.sync"),
            PositionRow(NOW, "500101", "share.500101.market.enterprise", 1, -1, 4, "500101.sync"),
            PositionRow(NOW, "500102", "share.500102.market.enterprise", 0, -1, 7, NO_GROUP),
        ]
    )
    assert sorted(admin.asked) == ["500101.audit", "500101.sync"], "only groups named <subscriber>.*"


def test_no_subscriber_topics_means_no_rows_and_no_group_calls() -> None:
    admin = FakeAdmin(topics={"cdc.market.public.enterprise": 1}, ends={}, committed={"500101.sync": {}})
    assert sample_positions({"bootstrap.servers": "kafka:9092"}, ["500101"], clients=admin, now=NOW) == []
    assert admin.asked == []


def test_kafka_down_is_an_unreachable_error() -> None:
    class Down(FakeAdmin):
        def list_topics(self, timeout: float) -> Any:
            raise KafkaException("Local: Broker transport failure")

    with pytest.raises(UnreachableError) as err:
        sample_positions({"bootstrap.servers": "kafka:9092"}, ["500101"], clients=Down({}, {}, {}))
    assert err.value.subject == "Kafka at kafka:9092" and "SHAREBUS_KAFKA_BOOTSTRAP" in (err.value.fix or "")


def test_end_offsets_are_asked_once_for_every_subscriber_partition() -> None:
    asked: list[list[tuple[str, int]]] = []

    class Asking(FakeAdmin):
        def end_offsets(
            self, partitions: list[tuple[str, int]], timeout: float
        ) -> dict[tuple[str, int], int]:
            asked.append(partitions)
            return {tp: 5 for tp in partitions}

    admin = Asking(topics={"share.500102.market": 2}, ends={}, committed={})
    rows = sample_positions({"bootstrap.servers": "kafka:9092"}, ["500102"], clients=admin, now=NOW)
    assert asked == [[("share.500102.market", 0), ("share.500102.market", 1)]]
    assert {(r.partition, r.end) for r in rows} == {(0, 5), (1, 5)}
