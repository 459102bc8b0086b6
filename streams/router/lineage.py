"""Lineage and dead-letter headers: where a delivered record came from and under which policy."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sharebus.core import naming
from sharebus.core.naming import (
    H_CHECK,
    H_COMMIT_TS,
    H_CONNECTOR,
    H_DEMAND,
    H_FAILED_AT,
    H_LSN,
    H_OFFSET,
    H_OP,
    H_PARTITION,
    H_POLICY,
    H_REASON,
    H_RESOURCE,
    H_SHARE_RESOURCE,
    H_TOPIC,
    H_UNIT,
)

if TYPE_CHECKING:
    from streams.router.records import RawRecord


@lru_cache(maxsize=4096)
def _iso_ms(ts_ms: int) -> bytes:
    """Records of one transaction share their commit time: formatted once."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds").encode()


Headers = list[tuple[str, bytes]]


class SourceHeaders:
    """The lineage headers shared by every delivery of one source record, under one policy
    version; the parts fixed per source partition and op are built once."""

    __slots__ = ("_fixed", "_policy")

    def __init__(self, policy_version: str) -> None:
        self._policy = (H_POLICY, policy_version.encode())
        self._fixed: dict[tuple[object, str, int, str], Headers] = {}

    def __call__(self, rec: RawRecord, source: dict[str, Any], op: str) -> Headers:
        name = source.get("name")
        fixed = self._fixed.get((name, rec.topic, rec.partition, op))
        if fixed is None:
            fixed = self._fixed[(name, rec.topic, rec.partition, op)] = [
                (H_CONNECTOR, naming.connector_of_source(str(name or "")).encode()),
                (H_TOPIC, rec.topic.encode()),
                (H_PARTITION, str(rec.partition).encode()),
                self._policy,
                (H_OP, op.encode()),
            ]
        headers = [*fixed, (H_OFFSET, b"%d" % rec.offset)]
        lsn = source.get("lsn")
        if lsn is not None:
            headers.append((H_LSN, str(lsn).encode()))
        ts_ms = source.get("ts_ms")
        if ts_ms.__class__ is int:
            headers.append((H_COMMIT_TS, _iso_ms(ts_ms)))
        return headers


@lru_cache(maxsize=65536)
def demand_header(demand_id: str) -> tuple[str, bytes]:
    """The `sharebus.demand.id` header of a delivery (one object per demand, reused)."""
    return (H_DEMAND, demand_id.encode())


@lru_cache(maxsize=65536)
def resource_header(resource: str) -> tuple[str, bytes]:
    """The `sharebus.resource` header of a delivery: which of the topic's resources it is."""
    return (H_SHARE_RESOURCE, resource.encode())


def dead_letter_headers(rec: RawRecord, *, reason: str, check: str, resource: str, unit: str) -> Headers:
    return [
        (H_REASON, reason.encode()),
        (H_CHECK, check.encode()),
        (H_RESOURCE, resource.encode()),
        (H_UNIT, unit.encode()),
        (H_TOPIC, rec.topic.encode()),
        (H_PARTITION, str(rec.partition).encode()),
        (H_OFFSET, str(rec.offset).encode()),
        (H_FAILED_AT, datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
    ]
