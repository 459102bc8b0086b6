"""The demand desk's handling of a request, without Kafka: each request is answered (a malformed
one 422, a refused step with its status) and committed; a Kafka outage while taking one leaves
it uncommitted and the position put back on it, so it is taken again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from confluent_kafka import TopicPartition

from sharebus.apps import demand_desk
from sharebus.apps.demand_desk import DemandDesk
from sharebus.catalog.orders import DeskRequest, StepOrder
from sharebus.catalog.workflow import DemandRefused, Step
from sharebus.core.errors import UnreachableError


@dataclass
class Msg:
    payload: bytes
    key_: bytes = b"r1"
    offset_: int = 7

    def error(self) -> None:
        return None

    def key(self) -> bytes:
        return self.key_

    def value(self) -> bytes:
        return self.payload

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.offset_


@dataclass
class FakeKafka:
    batch: list[Msg]
    produced: list[dict[str, Any]] = field(default_factory=list)
    committed: list[int] = field(default_factory=list)
    seeks: list[TopicPartition] = field(default_factory=list)

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        batch, self.batch = self.batch, []
        return batch

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        self.produced.append(orjson.loads(value))
        on_delivery(None, None)

    def flush(self, timeout: float) -> int:
        return 0

    def commit(self, message: Msg, asynchronous: bool) -> None:
        self.committed.append(message.offset())

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(tp)


def desk_with(*payloads: bytes) -> tuple[DemandDesk, FakeKafka]:
    kafka = FakeKafka([Msg(p, offset_=i) for i, p in enumerate(payloads)])
    desk = object.__new__(DemandDesk)
    desk.settings, desk.echo, desk.taken = None, lambda _line: None, 0  # type: ignore[assignment]
    desk.requests, desk.outcomes = "c.demand-requests", "c.demand-outcomes"
    desk.consumer = kafka  # type: ignore[assignment]
    desk.producer = kafka  # type: ignore[assignment]
    return desk, kafka


def revoke(user: str = "authority") -> bytes:
    order = StepOrder(Step.REVOKE, demand="D-1", reason="done")
    return orjson.dumps(DeskRequest(order, user, True, id="req-1").to_dict())


def test_each_request_is_answered_and_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_args: Any, **_kw: Any) -> Any:
        raise DemandRefused("demand D-1", "no such demand", kind=DemandRefused.MISSING)

    monkeypatch.setattr(demand_desk, "take_step", refused)
    desk, kafka = desk_with(b"{not json", revoke())
    desk.once()
    assert [(o["id"], o["status"]) for o in kafka.produced] == [("r1", 422), ("req-1", 404)]
    assert kafka.produced[1]["body"]["problem"] == "no such demand"
    assert kafka.committed == [0, 1] and desk.taken == 2


def test_a_kafka_outage_leaves_the_request_to_be_taken_again(monkeypatch: pytest.MonkeyPatch) -> None:
    def away(*_args: Any, **_kw: Any) -> Any:
        raise UnreachableError("Kafka at x", "does not answer")

    monkeypatch.setattr(demand_desk, "take_step", away)
    desk, kafka = desk_with(revoke())
    with pytest.raises(UnreachableError):
        desk.once()
    assert kafka.committed == [] and kafka.produced == []
    [tp] = kafka.seeks
    assert (tp.topic, tp.partition, tp.offset) == ("c.demand-requests", 0, 0)
