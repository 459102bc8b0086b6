"""The registry's durable log: a compacted one-partition Kafka topic written by exactly one
registry at a time (a transactional producer fences the previous writer) and tailed by all."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from schemas.errors import RegistryError
from schemas.registry_state import ApiError, Record
from sharebus.core import naming
from sharebus.core.kafka_clients import Replication, admin_client, new_topic

DEFAULT_TOPIC = naming.SCHEMAS_TOPIC
_FENCED = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)

log = logging.getLogger(__name__)


def _key_bytes(key: tuple[object, ...]) -> bytes:
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":")).encode()


def _record(msg: Message) -> Record | None:
    raw_key, raw_value = msg.key(), msg.value()
    if raw_key is None or raw_value is None:
        return None
    try:
        return Record(tuple(json.loads(raw_key)), json.loads(raw_value))
    except (ValueError, TypeError):
        # Only registries write this topic; a foreign record is skipped, never fatal.
        log.warning("skipping a record that is not the registry's at offset %s", msg.offset())
        return None


class KafkaSchemaLog:
    """Append records durably and apply every record of the topic, in order, to `apply`.

    Must hold: the topic has one partition (one order for every reader) and is compacted with
    unique keys per fact, so it never loses a schema or a version; only one registry writes
    (transactional.id is per topic: a newer registry fences the older one's writes).
    """

    def __init__(
        self,
        kafka: Mapping[str, object],
        topic: str = DEFAULT_TOPIC,
        *,
        timeout: float = 30.0,
        replication: Replication | None = None,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.replication = replication or Replication(1, 1)
        self.timeout = timeout
        self._applied = -1
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None

    def open(self, apply: Callable[[Record], None]) -> int:
        """Create the topic if missing, fence older writers, load every record; then tail the
        topic in a thread. Returns the number of records loaded."""
        self._ensure_topic()
        self._producer = Producer(
            {
                **self.kafka,
                "transactional.id": naming.registry_transactional_id(self.topic),
                "enable.idempotence": True,
            }
        )
        self._producer.init_transactions(self.timeout)
        self._consumer = Consumer(
            {
                **self.kafka,
                "group.id": naming.registry_reader_group(uuid.uuid4().hex),  # never joins: assign() only
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
            }
        )
        self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        loaded = self._load(apply)
        self._thread = threading.Thread(target=self._tail, args=(apply,), name="registry-log", daemon=True)
        self._thread.start()
        return loaded

    def _ensure_topic(self) -> None:
        admin = admin_client(self.kafka)
        config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
        futures = admin.create_topics([new_topic(self.topic, 1, config, self.replication)])
        try:
            futures[self.topic].result(timeout=self.timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def _load(self, apply: Callable[[Record], None]) -> int:
        assert self._consumer is not None
        deadline = time.monotonic() + self.timeout
        count = 0
        while time.monotonic() < deadline:
            msg = self._consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    return count
                raise KafkaException(err)
            count += self._deliver(msg, apply)
        raise RegistryError(
            f"schema log {self.topic}",
            f"not read to its end within {self.timeout:.0f}s",
            fix="check that Kafka answers at SHAREBUS_KAFKA_BOOTSTRAP (`sharebus stack status`)",
        )

    def _deliver(self, msg: Message, apply: Callable[[Record], None]) -> int:
        record = _record(msg)
        if record is not None:
            apply(record)
        with self._progress:
            self._applied = msg.offset() or 0
            self._progress.notify_all()
        return 1 if record is not None else 0

    def _tail(self, apply: Callable[[Record], None]) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            msg = self._consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            self._deliver(msg, apply)

    def append(self, records: list[Record]) -> None:
        """Write `records` in one transaction and return once they are applied."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("KafkaSchemaLog.append before open")
        offsets: list[int] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                offsets.append(msg.offset() or 0)

        try:
            producer.begin_transaction()
            for record in records:
                value = json.dumps(record.value, ensure_ascii=False).encode()
                producer.produce(self.topic, value, _key_bytes(record.key), on_delivery=delivered)
            producer.commit_transaction(self.timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() in _FENCED:
                raise ApiError(
                    503,
                    50301,
                    f"another registry instance took over writes to {self.topic}; send writes to it",
                ) from exc
            if err.txn_requires_abort():
                producer.abort_transaction(self.timeout)
            raise ApiError(500, 50001, f"writing to {self.topic} failed: {err.str()}") from exc
        self._wait_applied(max(offsets, default=-1))

    def _wait_applied(self, offset: int) -> None:
        deadline = time.monotonic() + self.timeout
        with self._progress:
            while self._applied < offset:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ApiError(500, 50002, f"{self.topic}: own write not read back in time")
                self._progress.wait(left)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
