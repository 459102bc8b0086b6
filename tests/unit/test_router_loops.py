"""The raw-topic loop: a commit refused because the group moved on (or its coordinator is away) is
a rebalance, not a crash."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from sharebus.core.kafka_clients import KafkaConnection
from sharebus.testing.waiting import wait_until
from streams.router.config import RouterConfig
from streams.router.loops import RawLoop


class _Consumer:
    def __init__(self, error: int | None) -> None:
        self.error = error
        self.commits: list[Any] = []
        self.closed = False

    def commit(self, **kw: Any) -> None:
        self.commits.append(kw)
        if self.error is not None:
            raise KafkaException(KafkaError(self.error, "Commit failed"))

    def close(self) -> None:
        self.closed = True
        if self.error is not None:
            raise KafkaException(KafkaError(self.error, "Commit failed"))


def _loop(error: int | None) -> tuple[RawLoop, _Consumer]:
    config = RouterConfig(
        "r", "chongqing", "c", 10, 0.1, KafkaConnection({"bootstrap.servers": "127.0.0.1:1"}), 300.0
    )
    watch = config.watch()
    loop = RawLoop(
        config, watch, ["cdc.x.public.t"], lambda records, done: done(), lambda: None, lambda exc: None
    )
    loop.consumer.close()
    fake = _Consumer(error)
    loop.consumer = fake  # type: ignore[assignment]
    batch = loop.ledger.open({("cdc.x.public.t", 0): 5})
    loop.ledger.close(batch)
    return loop, fake


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.NOT_COORDINATOR,  # the coordinator's broker restarts
    ],
)
def test_a_commit_refused_by_a_moved_on_group_is_a_rebalance(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    loop, fake = _loop(code)
    loop._drain()
    loop._close()
    assert len(fake.commits) == 1 and fake.closed
    assert loop.ledger.in_flight() == 0  # the new owner re-reads them: not retried here
    assert "delivered again by their next owner" in caplog.text


def test_any_other_commit_failure_is_raised() -> None:
    loop, _ = _loop(KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        loop._drain()


class _Message:
    def __init__(self, code: int) -> None:
        self.code = code

    def error(self) -> KafkaError:
        return KafkaError(self.code, "from the consumer")


def test_a_transient_consumer_error_is_an_outage_to_wait_out_and_others_stop_routing() -> None:
    loop, _ = _loop(None)
    loop._route([_Message(KafkaError._TRANSPORT)])  # e.g. the broker went away mid-fetch
    assert loop.watch.suspected
    loop.watch.check()  # within the tolerance
    with pytest.raises(KafkaException):
        loop._route([_Message(KafkaError.TOPIC_AUTHORIZATION_FAILED)])
    loop.watch.close()


def test_a_checkpoint_persists_what_was_counted_off_the_routing_thread_then_commits() -> None:
    loop, fake = _loop(None)
    calls: list[str] = []
    stored = threading.Event()

    def persist() -> None:
        stored.wait(10)  # a metrics store's insert at a city's rate takes a while
        calls.append("persist")

    loop.persist = persist
    fake.commit = lambda **kw: calls.append("commit")  # type: ignore[method-assign]
    loop._commit()  # within commit_every of the start: nothing yet
    assert calls == [] and not loop.checkpoints.busy
    loop._checkpointed -= loop.config.commit_every
    loop._commit()  # begins the checkpoint and returns: routing goes on meanwhile
    assert loop.checkpoints.busy and calls == []
    loop._commit()
    assert calls == []  # not committed before what its batches counted is persisted
    stored.set()

    def committed() -> bool:
        loop._commit()
        return calls == ["persist", "commit"]

    wait_until(committed, 10, "the checkpoint's commit once persisted", interval=0.01)
    loop._close()
    loop.watch.close()


def test_offsets_are_not_committed_when_what_was_counted_cannot_be_persisted() -> None:
    loop, fake = _loop(None)

    def fail() -> None:
        raise RuntimeError("metrics store down")

    loop.persist = fail
    loop._checkpointed -= loop.config.commit_every
    loop._commit()
    with pytest.raises(RuntimeError):
        wait_until(lambda: loop._commit() or False, 10, "the persist failure", interval=0.01)
    assert fake.commits == []  # the batches are routed (and counted) again after a restart
    loop._close()
    loop.watch.close()


def test_a_drain_waits_for_the_checkpoint_in_flight_and_commits_both() -> None:
    loop, fake = _loop(None)
    persisted: list[int] = []
    loop.persist = lambda: persisted.append(1)
    loop._checkpointed -= loop.config.commit_every
    loop._commit()  # the first batch's checkpoint is in flight
    later = loop.ledger.open({("cdc.x.public.t", 0): 9, ("cdc.x.public.t", 1): 3})
    loop.ledger.close(later)
    loop._drain()
    assert len(persisted) == 2 and not loop.checkpoints.busy
    (commit,) = fake.commits
    assert commit["asynchronous"] is False
    assert {(tp.partition, tp.offset) for tp in commit["offsets"]} == {(0, 9), (1, 3)}
    loop._close()
    loop.watch.close()
