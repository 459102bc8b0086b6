"""Lineage and dead-letter headers: where a delivered record came from and under which policy."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.router.batch import RawRecord

# Header names: a contract with subscribers (documented in the README).
H_CONNECTOR = "sharebus.source.connector"
H_TOPIC = "sharebus.source.topic"
H_PARTITION = "sharebus.source.partition"
H_OFFSET = "sharebus.source.offset"
H_LSN = "sharebus.source.lsn"
H_COMMIT_TS = "sharebus.source.commit_ts"
H_POLICY = "sharebus.policy.version"
H_OP = "sharebus.op"
H_DEMAND = "sharebus.demand.id"
H_REASON = "sharebus.dlq.reason"
H_CHECK = "sharebus.dlq.check"
H_RESOURCE = "sharebus.dlq.resource"
H_UNIT = "sharebus.dlq.responsible_unit"
H_FAILED_AT = "sharebus.dlq.failed_at"


def connector_of(source_name: str) -> str:
    """Debezium logical name `cdc.<dept>` → connector name `cdc-<dept>`."""
    return source_name.replace(".", "-", 1) if source_name.startswith("cdc.") else source_name


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
                (H_CONNECTOR, connector_of(str(name or "")).encode()),
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
