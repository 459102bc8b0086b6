"""Turn a delivered batch's counts into metrics rows (calls, withheld, dead letters, latency)."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.metrics.rows import CallRow
from streams.router.batch import BatchOutput


def call_rows(out: BatchOutput, delivered_at: float) -> list[CallRow]:
    """One row per (department, resource, subscriber, op, outcome, reason) of the batch, in the
    minute it was delivered; latency = delivery time − source commit time."""
    minute = datetime.fromtimestamp(delivered_at, UTC).replace(second=0, microsecond=0)
    now_ms = delivered_at * 1000.0
    return [
        CallRow(
            minute,
            key.department,
            key.resource,
            key.subscriber,
            key.op,
            key.outcome,
            key.reason,
            agg.records,
            agg.bytes,
            tuple(max(0.0, now_ms - ts) for ts in agg.source_ts_ms),
        )
        for key, agg in out.calls.items()
    ]
