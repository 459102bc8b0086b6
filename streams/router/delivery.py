"""The router's own confluent-kafka producer: a batch counts as done only when every one of its
messages is acknowledged by Kafka; any delivery error is fatal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, Message, Producer

from sharebus.errors import SharebusError
from streams.router.batch import Outgoing


class DeliveryError(SharebusError):
    """Kafka refused or lost a message: the worker must stop before acking its source records."""

    exit_code = 8


def producer_config(bootstrap: str) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # retries never duplicate or reorder
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
    }


class DeliveryTracker:
    """Produces batches and calls `on_done` (through `schedule`, e.g. loop.call_soon_threadsafe)
    once all of a batch's messages are delivered. A background thread serves delivery reports."""

    def __init__(
        self,
        bootstrap: str,
        *,
        schedule: Callable[[Callable[[], None]], None],
        on_error: Callable[[DeliveryError], None],
    ) -> None:
        self.producer = Producer(producer_config(bootstrap))
        self.schedule = schedule
        self.on_error = on_error
        self.error: DeliveryError | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="sharebus-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def send(self, messages: Sequence[Outgoing], on_done: Callable[[], None]) -> None:
        """Produce `messages`; `on_done` runs once every one of them is delivered."""
        if self.error is not None:
            raise self.error
        if not messages:
            self.schedule(on_done)
            return
        remaining = [len(messages)]

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self._fail(err, msg)
                return
            remaining[0] -= 1
            if remaining[0] == 0:
                self.schedule(on_done)

        produce = self.producer.produce
        for m in messages:
            while True:
                try:
                    produce(m.topic, m.value, m.key, headers=m.headers, on_delivery=delivered)  # type: ignore[arg-type]
                    break
                except BufferError:  # local queue full: let delivery reports drain it
                    time.sleep(0.01)

    def _fail(self, err: KafkaError, msg: Message) -> None:
        if self.error is None:
            self.error = DeliveryError(
                f"delivery to {msg.topic()}",
                "Kafka did not accept a routed record",
                actual=f"{err.name()}: {err.str()}",
                fix="check the broker and the topic (does it exist? `sharebus stack status`); the worker"
                " stops without acknowledging the source records, so nothing is lost on restart",
            )
            self.schedule(lambda: self.on_error(self.error))  # type: ignore[arg-type]

    def close_batches(self, timeout: float = 30.0) -> int:
        """Deliver everything produced so far (the poll thread keeps serving reports); returns
        how many messages remain undelivered."""
        deadline = time.monotonic() + timeout
        while len(self.producer) and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.producer)

    def close(self, timeout: float = 30.0) -> int:
        """Flush outstanding messages; returns how many remain undelivered."""
        self._stop.set()
        self._poller.join(timeout=2)
        return int(self.producer.flush(timeout))
