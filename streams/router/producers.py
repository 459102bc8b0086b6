"""The router's producers, sharded by topic: each librdkafka producer writes at most
TOPICS_PER_PRODUCER topics, because its `produce()` finds the topic by a linear scan."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol


class ProducerLike(Protocol):
    """The part of `confluent_kafka.Producer` the router uses."""

    def produce(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., *, headers: Any = ...
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...

    def __len__(self) -> int: ...


TOPICS_PER_PRODUCER = 128
"""Topics one producer writes at most. librdkafka looks a topic up by walking the list of every
topic its producer has written: `produce()` took 2.5 µs at 40 topics, 4 µs at 100, 14 µs at
1,000 and 63 µs at 3,000 (this machine; a seeds-scale worker writes ~3,400), so a router that
spreads its records over the city's topics spent most of its time there."""


class TopicShards:
    """Producers made on demand (`make`), each given the next TOPICS_PER_PRODUCER topics first
    written: one topic always goes through one producer, so its order (idempotence, retries) is
    kept as with a single producer. The sample's ~40 topics use one producer."""

    def __init__(self, make: Callable[[], ProducerLike], per_producer: int = TOPICS_PER_PRODUCER) -> None:
        self.make = make
        self.per_producer = per_producer
        self.producers: list[ProducerLike] = []
        self.of: dict[str, ProducerLike] = {}
        """topic → its producer (the hot path reads this dict directly; a miss calls `assign`)."""
        self._filling = 0  # topics given to the newest producer

    def assign(self, topic: str) -> ProducerLike:
        """The producer of a topic not written before (a new producer when the newest is full)."""
        if not self.producers or self._filling >= self.per_producer:
            self.producers.append(self.make())
            self._filling = 0
        producer = self.of[topic] = self.producers[-1]
        self._filling += 1
        return producer

    def poll(self, timeout: float = 0.0) -> None:
        """Serve every producer's callbacks (delivery failures, errors); the first waits `timeout`."""
        for index, producer in enumerate(self.producers):
            producer.poll(timeout if index == 0 else 0)
        if not self.producers and timeout > 0:
            time.sleep(timeout)

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds in all for every producer's deliveries; what remains."""
        deadline = time.monotonic() + timeout
        remaining = 0
        for producer in self.producers:
            remaining += int(producer.flush(max(0.0, deadline - time.monotonic())))
        return remaining

    def __len__(self) -> int:
        """Messages queued, in flight or unreported over all producers."""
        return sum(len(p) for p in self.producers)
