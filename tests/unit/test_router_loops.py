"""The raw-topic loop: a commit refused because the group moved on (or its coordinator is away) is
a rebalance, not a crash."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from sharebus.core.kafka_clients import KafkaConnection
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


def test_a_checkpoint_persists_what_was_counted_before_it_commits() -> None:
    loop, fake = _loop(None)
    calls: list[str] = []
    loop.persist = lambda: calls.append("persist")
    fake.commit = lambda **kw: calls.append("commit")  # type: ignore[method-assign]
    loop._commit()  # within commit_every of the start: nothing yet
    assert calls == []
    loop._checkpointed -= loop.config.commit_every
    loop._commit()
    assert calls == ["persist", "commit"]
    loop.watch.close()


def test_offsets_are_not_committed_when_what_was_counted_cannot_be_persisted() -> None:
    loop, fake = _loop(None)

    def fail() -> None:
        raise RuntimeError("metrics store down")

    loop.persist = fail
    loop._checkpointed -= loop.config.commit_every
    with pytest.raises(RuntimeError):
        loop._commit()
    assert fake.commits == []  # the batches are routed (and counted) again after a restart
    loop.watch.close()
