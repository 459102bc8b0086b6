"""Call and flow metrics: rows from the router, a batching sink, a ClickHouse store (embedded chDB
or a server) with rollups, and the query set behind `sharebus metrics` and the web API."""

from streams.metrics.errors import MetricsError, SinkError, StoreBusyError
from streams.metrics.opening import open_store
from streams.metrics.rows import OUTCOMES, CallRow, PositionRow
from streams.metrics.sink import MetricsSink
from streams.metrics.store import MetricsStore

__all__ = [
    "OUTCOMES",
    "CallRow",
    "MetricsError",
    "MetricsSink",
    "MetricsStore",
    "PositionRow",
    "SinkError",
    "StoreBusyError",
    "open_store",
]
