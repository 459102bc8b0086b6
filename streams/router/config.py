"""The router's part of the settings: its identity, batching, live-catalog topic and Kafka connection."""

from __future__ import annotations

from dataclasses import dataclass

from sharebus.core.kafka_clients import KafkaConnection, Role, connection
from sharebus.core.outage import KafkaWatch
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
    outage_tolerance: float
    """Seconds a Kafka outage is waited out before the worker stops (SHAREBUS_KAFKA_OUTAGE_TOLERANCE)."""
    commit_every: float = 5.0
    """Seconds between checkpoints: what delivered batches counted is persisted, then their
    offsets are committed (a crash re-delivers at most this much; Kafka Streams' default is 30)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RouterConfig:
        return cls(
            router_id=settings.router_id,
            city=settings.city,
            catalog_topic=settings.catalog_topic,
            batch_size=settings.router_batch_size,
            batch_window=settings.router_batch_window,
            kafka=connection(settings, Role.ROUTER),
            outage_tolerance=settings.kafka_outage_tolerance,
        )

    def watch(self) -> KafkaWatch:
        """The worker's one view of Kafka's reachability, shared by its clients."""
        return KafkaWatch(self.kafka.admin(), self.outage_tolerance, component="the worker")
