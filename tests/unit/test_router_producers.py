"""The router's producers sharded by topic: one topic, one producer; a new producer per full shard."""

from __future__ import annotations

from typing import Any

from streams.router.producers import TopicShards


class _Producer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.topics: list[str] = []
        self.queued = 0
        self.polls: list[float] = []

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> None:
        self.topics.append(topic)
        self.queued += 1

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0

    def flush(self, timeout: float) -> int:
        left, self.queued = (self.queued, 0) if self.name == "stuck" else (0, 0)
        return left

    def __len__(self) -> int:
        return self.queued


def _shards(per: int = 2, names: tuple[str, ...] = ("p0", "p1", "p2")) -> tuple[TopicShards, list[_Producer]]:
    made: list[_Producer] = []
    pending = list(names)

    def make() -> _Producer:
        made.append(_Producer(pending.pop(0)))
        return made[-1]

    return TopicShards(make, per_producer=per), made


def _send(shards: TopicShards, topic: str) -> None:
    producer = shards.of.get(topic)
    if producer is None:
        producer = shards.assign(topic)
    producer.produce(topic, b"v", b"k", headers=[])


def test_topics_fill_one_producer_then_the_next_and_keep_their_producer() -> None:
    shards, made = _shards()
    for topic in ("a", "b", "a", "c", "b", "d", "e"):
        _send(shards, topic)
    assert [p.topics for p in made] == [["a", "b", "a", "b"], ["c", "d"], ["e"]]
    assert len(shards) == 7  # every producer's queue counts


def test_an_idle_producer_is_still_the_topics_own() -> None:
    """A producer with nothing queued has len 0 (falsy): it must not be replaced by another."""
    shards, made = _shards(per=4)
    _send(shards, "a")
    made[0].queued = 0
    _send(shards, "a")
    assert len(made) == 1 and made[0].topics == ["a", "a"]


def test_no_producer_is_made_before_a_topic_is_written() -> None:
    shards, made = _shards()
    shards.poll(0)
    assert made == [] and len(shards) == 0 and shards.flush(1.0) == 0


def test_poll_serves_every_producer_and_waits_once() -> None:
    shards, made = _shards(per=1)
    for topic in ("a", "b", "c"):
        _send(shards, topic)
    shards.poll(0.05)
    assert [p.polls for p in made] == [[0.05], [0], [0]]


def test_flush_reports_what_remains_over_all_producers() -> None:
    shards, made = _shards(per=1, names=("p0", "stuck", "p2"))
    for topic in ("a", "b", "b", "c"):
        _send(shards, topic)
    assert [p.name for p in made] == ["p0", "stuck", "p2"]
    assert shards.flush(1.0) == 2 and len(shards) == 0
