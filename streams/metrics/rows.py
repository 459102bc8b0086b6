"""The metric rows the router and the position sampler hand to the sink: cheap NamedTuples."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

from streams.metrics.errors import MetricRowError

OUTCOMES = ("delivered", "withheld", "dead_letter")
"""Every value of `CallRow.outcome`; the DDL's Enum8 holds exactly these."""

OPS = ("c", "u", "d", "r")
"""Debezium ops: create, update, delete, read (snapshot)."""

CALL_COLUMNS = (
    "minute",
    "department",
    "resource",
    "subscriber",
    "op",
    "outcome",
    "reason",
    "records",
    "bytes",
    "latencies_ms",
)
"""Insert column list of `calls`, in `CallRow` field order."""

POSITION_COLUMNS = ("ts", "subscriber", "group_id", "topic", "partition_id", "committed", "end_offset")
"""Insert column list of `positions`, in `PositionRow` field order."""

AUDIT_COLUMNS = (
    "ts",
    "action",
    "subject",
    "target",
    "catalog_version",
    "count",
    "topic",
    "topic_id",
    "partition_id",
    "source_offset",
)
"""Insert column list of `audit_events`, in `AuditRow` field order."""


class CallRow(NamedTuple):
    """One routed batch's figures for one (minute, department, resource, subscriber, op, outcome,
    reason): the router aggregates a batch into one row per distinct key before calling the sink.

    `minute` is UTC, tz-aware and truncated to the minute; `subscriber` is '' when the row is about
    no subscriber (dead letters, record-level withholding); `latencies_ms` are source commit →
    delivered samples (the router caps them at ~200 per row; each sample then stands for
    `records / len(latencies_ms)` records in the percentiles).
    """

    minute: datetime
    department: str
    resource: str
    subscriber: str
    op: str
    outcome: str
    reason: str
    records: int
    bytes: int
    latencies_ms: tuple[float, ...] = ()


class PositionRow(NamedTuple):
    """One sampled consumer position: `committed` is -1 when the group has no offset on the
    partition yet (then the whole partition counts as lag); lag = end − max(committed, 0)."""

    ts: datetime
    subscriber: str
    topic: str
    partition: int
    committed: int
    end: int
    group: str = ""


class AuditRow(NamedTuple):
    """One record of the audit topic: `ts` is the event's `at` (tz-aware UTC), `count` its count;
    (topic, topic_id, partition, offset) is where it was read, which ingestion resumes after.
    `catalog_version` is '' when the event names none; `amount` is the event's `count` (column
    `count`: a tuple already has a `count`)."""

    ts: datetime
    action: str
    subject: str
    target: str
    catalog_version: str
    amount: int
    topic: str
    topic_id: str
    partition: int
    offset: int


QUALITY_COLUMNS = (
    "minute",
    "department",
    "resource",
    "seen",
    "invalid",
    "samples",
    "images",
    "fields",
    "nonnull",
    "filled",
    "weight",
    "routed",
    "late",
    "latency_ms_sum",
    "last_change",
    "refs",
    "unmatched",
)
"""Insert column list of `quality`, in `QualityRow` field order (004_quality.sql and
005_consistency.sql say what each is)."""


class QualityRow(NamedTuple):
    """One resource's quality figures over a minute of delivered batches (exact, summable):
    `minute` UTC, tz-aware, truncated; `last_change` the newest source commit (UTC; the epoch
    when none of its records carried one)."""

    minute: datetime
    department: str
    resource: str
    seen: int
    invalid: dict[str, int]
    samples: dict[str, str]  # per check of `invalid`, a failing record's key, masked
    images: int
    fields: tuple[str, ...]
    nonnull: tuple[int, ...]  # per field of `fields`
    filled: int
    weight: int
    routed: int
    late: int
    latency_ms_sum: int
    last_change: datetime
    refs: int = 0  # references checked (consistency)
    unmatched: Mapping[str, int] = MappingProxyType({})  # `reference:<field>` → values not found


def check_call_row(row: CallRow) -> None:
    """Raise `MetricRowError` unless `row` can be stored: a known outcome and an aware minute."""
    if row.outcome not in OUTCOMES:
        raise MetricRowError(
            f"CallRow for {row.department}/{row.resource}/{row.subscriber or '-'}",
            "unknown outcome",
            expected=" | ".join(OUTCOMES),
            actual=repr(row.outcome),
            fix="build CallRows with one of the OUTCOMES of streams.metrics.rows",
        )
    if row.minute.tzinfo is None or row.minute.utcoffset() is None:
        raise MetricRowError(
            f"CallRow for {row.department}/{row.resource}/{row.subscriber or '-'}",
            "minute is a naive datetime",
            expected="a tz-aware UTC datetime truncated to the minute",
            actual=row.minute.isoformat(),
            fix="use datetime.now(UTC).replace(second=0, microsecond=0)",
        )
    if row.records < 0 or row.bytes < 0:
        raise MetricRowError(
            f"CallRow for {row.department}/{row.resource}/{row.subscriber or '-'}",
            "negative count",
            expected="records >= 0 and bytes >= 0",
            actual=f"records={row.records} bytes={row.bytes}",
        )


def epoch_minute(moment: datetime) -> int:
    """Unix seconds of `moment` truncated to its minute (what the `minute` column stores)."""
    seconds = int(moment.timestamp())
    return seconds - seconds % 60
