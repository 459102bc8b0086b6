"""The Kafka topics a connector writes (raw tables, heartbeat, notifications, schema history):
listing them, and deleting the ones a failed onboarding created."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException

from connectors.render import CaptureSpec
from sharebus.core.errors import ConnectorError
from sharebus.core.kafka_clients import admin_client

_TIMEOUT_S = 10


def is_department_topic(spec: CaptureSpec, topic: str) -> bool:
    prefix = spec.topic_prefix
    return (
        topic == prefix
        or topic.startswith(prefix + ".")
        or topic in (spec.notification_topic, spec.schema_history_topic, spec.heartbeat_topic)
    )


def department_topics(kafka: Mapping[str, object], spec: CaptureSpec) -> set[str]:
    """Existing topics of `spec`'s connector."""
    meta = admin_client(kafka).list_topics(timeout=_TIMEOUT_S)
    return {t for t in meta.topics if is_department_topic(spec, t)}


def delete_topics(kafka: Mapping[str, object], topics: Iterable[str]) -> list[str]:
    """Delete `topics` (already gone ones count as deleted); the ones deleted."""
    names = sorted(topics)
    if not names:
        return []
    admin = admin_client(kafka)  # keep a reference: the futures need a live handle
    futures = admin.delete_topics(names, operation_timeout=_TIMEOUT_S)
    for name, future in futures.items():
        try:
            future.result(timeout=_TIMEOUT_S * 3)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise ConnectorError(
                    f"topic {name}",
                    "could not be deleted",
                    actual=str(exc.args[0]),
                    fix="check `sharebus stack logs kafka`, then delete it by hand",
                ) from None
    return names


class KafkaTopics:
    """The department topics of one Kafka cluster (an object, so onboarding can be tested without Kafka)."""

    def __init__(self, kafka: Mapping[str, object]) -> None:
        self.kafka = kafka

    def of(self, spec: CaptureSpec) -> set[str]:
        return department_topics(self.kafka, spec)

    def delete(self, topics: Iterable[str]) -> list[str]:
        return delete_topics(self.kafka, topics)
