"""End and start offsets in one call (`kafka_clients.partition_offsets`), as the ops and
position samplers ask them, against the real broker: they agree with the AdminClient's
`list_offsets`, and a deleted topic comes back as gone, not as an error."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

from sharebus.core.kafka_clients import (
    Replication,
    admin_client,
    ensure_topics,
    kafka_config,
    partition_offsets,
)
from sharebus.core.settings import Settings
from streams.metrics.positions import PositionClients


def test_one_call_answers_as_list_offsets_and_names_a_deleted_topic(
    stack_settings: Settings, unique: Callable[[str], str]
) -> None:
    config = kafka_config(stack_settings)
    admin = admin_client(config)
    topics = [unique("offsets-a"), unique("offsets-b")]
    ensure_topics(admin, {t: (2, {}) for t in topics}, Replication.of(stack_settings))
    producer = Producer(config)
    for i in range(7):
        producer.produce(topics[0], b"x", partition=i % 2)
    producer.produce(topics[1], b"y", partition=1)
    assert producer.flush(30) == 0
    parts = [(t, p) for t in topics for p in (0, 1)]
    asked = admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for t, p in parts})
    expected = {(tp.topic, tp.partition): f.result().offset for tp, f in asked.items()}
    consumer = Consumer({**config, "group.id": unique("offsets-probe"), "enable.auto.commit": False})
    clients = PositionClients(config)
    try:
        ends, gone = partition_offsets(consumer, parts, 10.0)
        assert (
            ends == expected == {(topics[0], 0): 4, (topics[0], 1): 3, (topics[1], 0): 0, (topics[1], 1): 1}
        )
        assert gone == []
        starts, _ = partition_offsets(consumer, parts, 10.0, earliest=True)
        assert starts == dict.fromkeys(parts, 0)
        assert clients.end_offsets(parts, 10.0) == expected
        for future in admin.delete_topics([topics[1]], operation_timeout=30).values():
            future.result()
        ends, gone = partition_offsets(consumer, parts, 10.0)
        assert ends == {(topics[0], 0): 4, (topics[0], 1): 3}
        assert sorted(gone) == [(topics[1], 0), (topics[1], 1)]
    finally:
        consumer.close()
        clients.close()
        for future in admin.delete_topics([topics[0]], operation_timeout=30).values():
            future.result()
