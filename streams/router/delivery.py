"""The router's own confluent-kafka producers: a batch counts as done only when every one of its
messages is acknowledged by Kafka (batches are produced without waiting); any delivery error is fatal."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, Message, Producer

from sharebus.core.errors import ExitCode, SharebusError
from sharebus.core.kafka_clients import KafkaConnection
from sharebus.core.outage import KafkaWatch
from streams.router.producers import TopicShards
from streams.router.records import Outgoing


class DeliveryError(SharebusError):
    """Kafka refused or lost a message: the worker must stop before acking its source records."""

    exit_code = ExitCode.DELIVERY


PRODUCER: dict[str, object] = {
    "enable.idempotence": True,  # retries never duplicate or reorder
    "acks": "all",
    "linger.ms": 5,
    "batch.num.messages": 10000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
}
"""The router's producer: idempotent, every replica acknowledges, batched and compressed."""


SETTLE_MESSAGES = 50_000
"""Messages produced and not yet known delivered past which routing waits for all of them."""
SETTLE_SECONDS = 1.0
"""Seconds after which a batch not yet known delivered is waited for (with every later one)."""


class DeliveryTracker:
    """Produces batch after batch without waiting for Kafka (pipelined); a batch's `on_done`
    runs once Kafka acknowledged all of it and every batch before it. That is known without a
    Python callback per message (only failures are reported, `delivery.report.only.error`): when
    nothing is outstanding any more, or — under sustained load — by waiting for everything
    outstanding once SETTLE_MESSAGES are, or the oldest batch has been for SETTLE_SECONDS.
    Waiting for each batch before reading the next cost ~0.5 s per batch spread over 1,500
    topics (librdkafka's and the broker's work per partition written; bench/scale --bus). The
    first failure is raised by the next call and stops the worker before the offsets of its
    batch, or of any later one, are committed."""

    def __init__(
        self,
        kafka: KafkaConnection,
        watch: KafkaWatch,
        *,
        timeout: float = 60.0,
        settle_messages: int = SETTLE_MESSAGES,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.watch = watch
        config = kafka.producer(
            {
                **PRODUCER,
                "delivery.report.only.error": True,
                "on_delivery": self.failed,
                **watch.producer_config(timeout),
            }
        )
        self.producers = TopicShards(lambda: Producer(config))
        self.timeout = timeout
        self.settle_messages = settle_messages
        self.settle_seconds = settle_seconds
        self.error: DeliveryError | None = None
        self._pending: list[Callable[[], None]] = []  # on_done of the batches not yet known delivered
        self._pending_messages = 0
        self._oldest = 0.0  # when the oldest pending batch was produced (monotonic)

    @property
    def in_flight(self) -> int:
        """Batches produced and not yet known delivered."""
        return len(self._pending)

    def send(self, messages: Sequence[Outgoing], on_done: Callable[[], None]) -> None:
        """Produce `messages`; `on_done` runs once Kafka acknowledged all of them (later)."""
        self._raise()
        shards = self.producers
        of, assign = shards.of.get, shards.assign
        for m in messages:
            topic = m.topic
            producer = of(topic)
            if producer is None:  # not `or`: a producer with nothing queued is falsy (len 0)
                producer = assign(topic)
            while True:
                try:
                    producer.produce(topic, m.value, m.key, headers=m.headers)
                    break
                except BufferError:  # local queue full: let deliveries drain it
                    shards.poll(0.05)
                    self.watch.check()
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(on_done)
        self._pending_messages += len(messages)
        self.serve()

    def serve(self) -> None:
        """Run `on_done` of the batches known delivered since the last call."""
        self.producers.poll(0)
        self._raise()
        if not self._pending:
            return
        if len(self.producers) == 0:  # nothing queued, in flight or unreported: all delivered
            self._settled()
        elif (
            self._pending_messages >= self.settle_messages
            or time.monotonic() - self._oldest >= self.settle_seconds
        ):
            self.drain()

    def drain(self) -> None:
        """Return once every batch produced so far is acknowledged (its `on_done` has run): an
        outage is waited out; while Kafka is reachable it gets `timeout` seconds."""
        remaining = self.watch.flush(self.producers, self.timeout)
        self._raise()
        if remaining:
            raise DeliveryError(
                "routed records",
                f"{remaining} not acknowledged by Kafka within {self.timeout:.0f}s while it was reachable",
                fix="check the broker and the topics (`sharebus ops status`); the worker stops without"
                " committing the source offsets, so nothing is lost on restart",
            )
        self._settled()

    def _settled(self) -> None:
        done, self._pending, self._pending_messages = self._pending, [], 0
        for on_done in done:
            on_done()

    def failed(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = DeliveryError(
                f"delivery to {msg.topic()}",
                "Kafka did not accept a routed record",
                actual=f"{err.name()}: {err.str()}",
                fix="check the broker and the topic (does it exist? `sharebus stack status`); the worker"
                " stops without acknowledging the source records, so nothing is lost on restart",
            )

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self, timeout: float = 30.0) -> int:
        """Flush outstanding messages; returns how many remain undelivered."""
        return self.producers.flush(timeout)
