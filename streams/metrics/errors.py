"""Errors of the metrics store, sink and query API: `SharebusError`s that name the fix."""

from __future__ import annotations

from sharebus.core.errors import ExitCode, SharebusError


class MetricsError(SharebusError):
    """The metrics store or its query API failed."""

    exit_code = ExitCode.METRICS


class MetricRowError(MetricsError):
    """A metric row handed to the sink is malformed (a bug in its producer)."""


class StoreBusyError(MetricsError):
    """An embedded (chDB) store's data path is owned by another process."""


class SinkError(MetricsError):
    """The metrics sink could not store rows after its retries: metrics would be lost."""


class QueryArgumentError(MetricsError):
    """A metrics query was asked with a wrong argument (bad --by, --since, ...)."""

    exit_code = ExitCode.CONFIG
