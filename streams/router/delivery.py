"""The router's own confluent-kafka producer: a batch counts as done only when every one of its
messages is acknowledged by Kafka; any delivery error is fatal."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, Message, Producer

from sharebus.core.errors import ExitCode, SharebusError
from sharebus.core.kafka_clients import KafkaConnection
from sharebus.core.outage import KafkaWatch
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


class DeliveryTracker:
    """Produces one batch at a time and returns once Kafka acknowledged all of it (then calls
    `on_done`). Only failed deliveries are reported (`delivery.report.only.error`), so a healthy
    batch costs no Python callback per message; the first failure is raised and stops the worker
    before the batch's source offsets are committed."""

    def __init__(self, kafka: KafkaConnection, watch: KafkaWatch, *, timeout: float = 60.0) -> None:
        self.watch = watch
        self.producer = Producer(
            kafka.producer(
                {
                    **PRODUCER,
                    "delivery.report.only.error": True,
                    **watch.producer_config(timeout),
                }
            )
        )
        self.timeout = timeout
        self.error: DeliveryError | None = None

    def send(self, messages: Sequence[Outgoing], on_done: Callable[[], None]) -> None:
        """Produce `messages`, wait until every one is delivered, then run `on_done`."""
        if self.error is not None:
            raise self.error
        produce, failed = self.producer.produce, self._failed
        for m in messages:
            while True:
                try:
                    produce(m.topic, m.value, m.key, headers=m.headers, on_delivery=failed)  # type: ignore[arg-type]
                    break
                except BufferError:  # local queue full: let deliveries drain it
                    self.producer.poll(0.05)
        remaining = self.watch.flush(self.producer, self.timeout)  # an outage is waited out
        if self.error is not None:
            raise self.error
        if remaining:
            raise DeliveryError(
                "routed records",
                f"{remaining} not acknowledged by Kafka within {self.timeout:.0f}s while it was reachable",
                fix="check the broker and the topics (`sharebus ops status`); the worker stops without"
                " committing the source offsets, so nothing is lost on restart",
            )
        on_done()

    def _failed(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = DeliveryError(
                f"delivery to {msg.topic()}",
                "Kafka did not accept a routed record",
                actual=f"{err.name()}: {err.str()}",
                fix="check the broker and the topic (does it exist? `sharebus stack status`); the worker"
                " stops without acknowledging the source records, so nothing is lost on restart",
            )

    def close_batches(self, timeout: float = 30.0) -> int:
        """Deliver everything produced so far; how many messages remain undelivered."""
        return int(self.producer.flush(timeout))

    def close(self, timeout: float = 30.0) -> int:
        """Flush outstanding messages; returns how many remain undelivered."""
        return int(self.producer.flush(timeout))
