"""The ops sampler on a fake AdminClient and record reader: which topics and groups it samples, what
it asks for record timestamps and dead letters, what it caches, and Kafka down."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from streams.ops.errors import OpsError
from streams.ops.model import DeadLetter
from streams.ops.sampler import KafkaSampler
from streams.ops.topology import SubscriberInfo, Topology

T0 = 1_800_000_000.0
ENT = "share.500101.market"
TOPOLOGY = Topology(
    version="v1",
    subscribers=(
        SubscriberInfo("500101", "万州区", "district"),
        SubscriberInfo("500102", "涪陵区", "district"),
    ),
    departments={"market": "市场监督管理局"},
    resources={"market.enterprise": "market"},
    raw_topics={"cdc.market.public.enterprise": ("market.enterprise",)},
    dlq_topics={"dlq.market": "market"},
)


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


@dataclass
class Member:
    assignment: Any
    host: str = "/10.0.0.7"  # as confluent-kafka gives a member's client address


@dataclass
class FakeAdmin:
    topics: dict[str, int]
    ends: dict[tuple[str, int], int]
    starts: dict[tuple[str, int], int]
    committed: dict[str, dict[tuple[str, int], int]]
    members: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    metadata_calls: int = 0
    down: bool = False

    def list_topics(self, timeout: float) -> Any:
        if self.down:
            raise KafkaException("_TRANSPORT: broker down")
        self.metadata_calls += 1
        topics = {
            t: type("T", (), {"partitions": dict.fromkeys(range(n)), "error": None})()
            for t, n in self.topics.items()
        }
        return type("Meta", (), {"topics": topics})()

    def list_consumer_groups(self, request_timeout: float) -> Future[Any]:
        groups = [type("G", (), {"group_id": g})() for g in {*self.committed, *self.members}]
        return done(type("L", (), {"valid": groups})())

    def describe_consumer_groups(self, ids: list[str], request_timeout: float) -> dict[str, Future[Any]]:
        out = {}
        for gid in ids:
            held = self.members.get(gid, [])
            members = [Member(type("A", (), {"topic_partitions": [TopicPartition(t, p) for t, p in held]})())]
            state = ConsumerGroupState.STABLE if held else ConsumerGroupState.EMPTY
            out[gid] = done(type("D", (), {"state": state, "members": members if held else []})())
        return out

    def list_consumer_group_offsets(
        self, request: list[ConsumerGroupTopicPartitions], request_timeout: float
    ) -> dict[str, Future[Any]]:
        (asked,) = request
        offsets = self.committed.get(asked.group_id, {})
        parts = [
            TopicPartition(tp.topic, tp.partition, offsets.get((tp.topic, tp.partition), -1001))
            for tp in asked.topic_partitions
        ]
        return {asked.group_id: done(ConsumerGroupTopicPartitions(asked.group_id, parts))}


@dataclass
class FakeReader:
    stamps: dict[tuple[str, int, int], float]
    admin: FakeAdmin | None = None  # whose end and start offsets the reader answers
    asked_times: list[list[tuple[str, int, int]]] = field(default_factory=list)
    asked_dead: list[dict[tuple[str, int], tuple[int, int]]] = field(default_factory=list)

    def offsets(
        self, partitions: list[tuple[str, int]], *, earliest: bool = False, timeout: float = 10.0
    ) -> tuple[dict[tuple[str, int], int], list[tuple[str, int]]]:
        assert self.admin is not None
        table = self.admin.starts if earliest else self.admin.ends
        return {tp: table[tp] for tp in partitions if tp in table}, [
            tp for tp in partitions if tp not in table
        ]

    def timestamps(self, wanted: Any, *, timeout: float = 3.0) -> dict[tuple[str, int, int], float]:
        wanted = sorted(wanted)
        self.asked_times.append(wanted)
        return {w: self.stamps[w] for w in wanted if w in self.stamps}

    def dead_letters(self, ranges: Any, *, timeout: float = 3.0) -> list[DeadLetter]:
        self.asked_dead.append(dict(ranges))
        return [
            DeadLetter(t, p, o, T0, "bad code", "code", "market.enterprise", "科")
            for (t, p), (lo, hi) in ranges.items()
            for o in range(hi - 1, lo - 1, -1)
        ]

    def close(self) -> None:
        pass


def make() -> tuple[KafkaSampler, FakeAdmin, FakeReader]:
    admin = FakeAdmin(
        topics={
            ENT: 2,
            "share.500102.market": 1,
            "share.500101.gone.table": 1,
            "cdc.market.public.enterprise": 1,
            "dlq.market": 1,
            "unrelated": 4,
        },
        ends={
            (ENT, 0): 10,
            (ENT, 1): 4,
            ("share.500102.market", 0): 3,
            ("cdc.market.public.enterprise", 0): 20,
            ("dlq.market", 0): 12,
        },
        starts={("dlq.market", 0): 2},
        committed={"500101.sync": {(ENT, 0): 8}, "other-group": {}},
        members={"500102.live": [("share.500102.market", 0)]},
    )
    reader = FakeReader({(ENT, 0, 8): T0 - 30, ("cdc.market.public.enterprise", 0, 19): T0 - 2}, admin)
    kafka = {"bootstrap.servers": "kafka:9092"}
    sampler = KafkaSampler(
        kafka,
        observe_commits=False,
        admin=admin,
        reader=reader,  # type: ignore[arg-type]
        clock=lambda: T0,
    )
    return sampler, admin, reader


def test_sample_reads_the_bus_topics_and_the_subscribers_groups() -> None:
    sampler, _, reader = make()
    snap = sampler.sample(TOPOLOGY)
    assert snap.at == T0 and snap.commits_since is None
    assert set(snap.ends) == {
        (ENT, 0),
        (ENT, 1),
        ("share.500102.market", 0),
        ("cdc.market.public.enterprise", 0),
        ("dlq.market", 0),
    }
    assert snap.starts == {("dlq.market", 0): 2}
    assert snap.committed == {"500101.sync": {(ENT, 0): 8}, "500102.live": {}}
    assert snap.groups["500101.sync"].state == "EMPTY" and snap.groups["500101.sync"].members == 0
    assert snap.groups["500102.live"].assigned == frozenset({("share.500102.market", 0)})
    assert snap.groups["500102.live"].hosts == frozenset({"10.0.0.7"})  # the members' addresses, no "/"
    assert "other-group" not in snap.groups
    # Timestamps: the first unconsumed record of each lagging partition read, the newest raw record.
    assert reader.asked_times == [
        [("cdc.market.public.enterprise", 0, 19), (ENT, 0, 8), ("share.500102.market", 0, 0)]
    ]
    assert snap.record_times == {(ENT, 0, 8): T0 - 30, ("cdc.market.public.enterprise", 0, 19): T0 - 2}
    assert reader.asked_dead == [{("dlq.market", 0): (7, 12)}]
    letters = sampler.dead_letters()[("dlq.market", 0)]
    assert [d.offset for d in letters] == [11, 10, 9, 8, 7]


def test_second_sample_reuses_metadata_timestamps_and_dead_letters() -> None:
    sampler, admin, reader = make()
    sampler.sample(TOPOLOGY)
    sampler.sample(TOPOLOGY)
    assert admin.metadata_calls == 1  # cached for metadata_every seconds
    assert reader.asked_times[1] == [("share.500102.market", 0, 0)]  # only the unanswered one
    assert len(reader.asked_dead) == 1  # dead-letter end unchanged: nothing re-read
    admin.ends[("dlq.market", 0)] = 13
    sampler.sample(TOPOLOGY)
    assert reader.asked_dead[-1] == {("dlq.market", 0): (8, 13)}


def test_a_new_catalog_version_refreshes_the_metadata() -> None:
    sampler, admin, _ = make()
    sampler.sample(TOPOLOGY)
    sampler.sample(replace(TOPOLOGY, version="v2"))
    assert admin.metadata_calls == 2


def test_kafka_down_is_an_ops_error_naming_kafka_and_the_fix() -> None:
    sampler, admin, _ = make()
    admin.down = True
    with pytest.raises(OpsError) as caught:
        sampler.sample(TOPOLOGY)
    assert caught.value.subject == "Kafka at kafka:9092"
    assert "sharebus stack status" in (caught.value.fix or "")


def test_a_topic_deleted_since_the_metadata_was_read_is_left_out_and_the_metadata_read_again() -> None:
    sampler, admin, _ = make()
    sampler.sample(TOPOLOGY)
    assert admin.metadata_calls == 1
    del admin.ends[(ENT, 1)]  # the topic's partition is gone when its end offset is asked
    snap = sampler.sample(TOPOLOGY)
    assert (ENT, 1) not in snap.ends and (ENT, 0) in snap.ends
    sampler.sample(TOPOLOGY)
    assert admin.metadata_calls == 2, "the cached metadata named a gone topic: read again"
