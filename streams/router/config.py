"""The router's part of the settings: its identity, batching, live-catalog topic and Kafka connection."""

from __future__ import annotations

from dataclasses import dataclass

from sharebus.core.kafka_clients import KafkaConnection, Role, connection
from sharebus.core.settings import Settings


@dataclass(frozen=True)
class RouterConfig:
    """What the routing loops need, and nothing else (made once from the settings)."""

    router_id: str
    """The consumer group of the raw topics (workers sharing it split the partitions)."""
    city: str
    catalog_topic: str
    batch_size: int
    batch_window: float
    kafka: KafkaConnection

    @classmethod
    def from_settings(cls, settings: Settings) -> RouterConfig:
        return cls(
            router_id=settings.router_id,
            city=settings.city,
            catalog_topic=settings.catalog_topic,
            batch_size=settings.router_batch_size,
            batch_window=settings.router_batch_window,
            kafka=connection(settings, Role.ROUTER),
        )
