"""The router's pipelined deliveries: a batch is done only when all of it is acknowledged, in any order."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from sharebus.core.kafka_clients import KafkaConnection
from streams.router.config import RouterConfig
from streams.router.delivery import DeliveryError, DeliveryTracker
from streams.router.loops import RawLoop
from streams.router.producers import TopicShards
from streams.router.records import Outgoing


class _Msg:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


class _Producer:
    """Holds produced messages until the test lets Kafka acknowledge (or refuse) them."""

    def __init__(self, tracker: DeliveryTracker) -> None:
        self.tracker = tracker
        self.outstanding: list[str] = []
        self.refused: list[int] = []
        self.flushes = 0

    def produce(self, topic: str, value: Any, key: Any, headers: Any) -> None:
        self.outstanding.append(topic)

    def acknowledge(self, count: int) -> None:
        del self.outstanding[:count]

    def poll(self, timeout: float) -> int:
        for index in sorted(self.refused, reverse=True):
            refused: Any = _Msg(self.outstanding[index])
            self.tracker.failed(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), refused)
            del self.outstanding[index]
        self.refused.clear()
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        self.poll(0)
        self.outstanding.clear()
        return 0

    def __len__(self) -> int:
        return len(self.outstanding)


def _tracker(messages: int = 1000, seconds: float = 60.0) -> tuple[DeliveryTracker, _Producer]:
    config = RouterConfig(
        "r", "chongqing", "c", 10, 0.1, KafkaConnection({"bootstrap.servers": "127.0.0.1:1"}), 300.0
    )
    tracker = DeliveryTracker(config.kafka, config.watch(), settle_messages=messages, settle_seconds=seconds)
    fake = _Producer(tracker)
    tracker.producers = TopicShards(lambda: fake)
    return tracker, fake


def _messages(*topics: str) -> list[Outgoing]:
    return [Outgoing(t, b"k", b"v", []) for t in topics]


def test_batches_are_produced_without_waiting_and_done_once_nothing_is_outstanding() -> None:
    tracker, fake = _tracker()
    done: list[str] = []
    tracker.send(_messages("a", "b"), lambda: done.append("first"))
    tracker.send(_messages("c"), lambda: done.append("second"))
    assert done == [] and tracker.in_flight == 2 and fake.flushes == 0
    fake.acknowledge(2)  # the first batch's messages, not the second's
    tracker.serve()
    assert done == []  # which messages are out is not known per batch: wait for all
    fake.acknowledge(1)
    tracker.serve()
    assert done == ["first", "second"] and tracker.in_flight == 0 and fake.flushes == 0


def test_under_sustained_load_everything_outstanding_is_waited_for_past_a_limit() -> None:
    tracker, fake = _tracker(messages=4)
    done: list[int] = []
    tracker.send(_messages("a", "b"), lambda: done.append(1))
    tracker.send(_messages("c"), lambda: done.append(2))
    assert done == [] and fake.flushes == 0
    tracker.send(_messages("d"), lambda: done.append(3))  # 4 messages outstanding
    assert done == [1, 2, 3] and fake.flushes == 1
    old, fake2 = _tracker(seconds=0.0)
    old.send(_messages("a"), lambda: done.append(4))  # the oldest batch is too old at once
    assert done[-1] == 4 and fake2.flushes == 1


def test_an_empty_batch_is_done_with_the_others() -> None:
    tracker, _ = _tracker()
    done: list[int] = []
    tracker.send([], lambda: done.append(1))
    assert done == [1] and tracker.in_flight == 0


def test_a_refused_message_fails_the_next_call_and_no_batch_is_done() -> None:
    tracker, fake = _tracker()
    done: list[str] = []
    tracker.send(_messages("a", "b"), lambda: done.append("first"))
    fake.refused.append(1)
    with pytest.raises(DeliveryError) as failed:
        tracker.serve()
    assert "delivery to b" in str(failed.value) and "TOPIC_AUTHORIZATION_FAILED" in str(failed.value)
    with pytest.raises(DeliveryError):
        tracker.send(_messages("c"), lambda: done.append("second"))
    with pytest.raises(DeliveryError):
        tracker.drain()
    assert done == []


def test_drain_returns_once_everything_routed_is_delivered() -> None:
    tracker, _ = _tracker()
    done: list[int] = []
    for i in range(3):
        tracker.send(_messages("a", "b"), lambda i=i: done.append(i))  # type: ignore[misc]
    tracker.drain()
    assert done == [0, 1, 2] and tracker.in_flight == 0


def test_a_failed_drain_commits_the_delivered_batches_then_stops() -> None:
    config = RouterConfig(
        "r", "chongqing", "c", 10, 0.1, KafkaConnection({"bootstrap.servers": "127.0.0.1:1"}), 300.0
    )

    def drain() -> None:
        raise DeliveryError("routed records", "1 not acknowledged")

    loop = RawLoop(config, config.watch(), ["cdc.x"], lambda records, done: None, drain, lambda exc: None)
    loop.consumer.close()
    commits: list[Any] = []

    class _Consumer:
        def commit(self, **kw: Any) -> None:
            commits.append(kw["offsets"])

    loop.consumer = _Consumer()  # type: ignore[assignment]
    first = loop.ledger.open({("cdc.x", 0): 5})
    loop.ledger.open({("cdc.x", 0): 9})  # never delivered
    loop.ledger.close(first)
    with pytest.raises(DeliveryError):
        loop._drain()
    assert [[(tp.topic, tp.partition, tp.offset) for tp in c] for c in commits] == [[("cdc.x", 0, 5)]]
    loop.watch.close()
