"""One batch of raw change records through decode → quality → policy → encode: pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import orjson

from streams.policy.compiled import Policy
from streams.policy.reasons import Reason
from streams.quality import QualityChecks
from streams.router.lineage import dead_letter_headers, demand_header, source_headers

DLQ_PREFIX = "dlq"
DELIVERED = "delivered"


class RawRecord(NamedTuple):
    """A message read from a raw `cdc.*` topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class Outgoing(NamedTuple):
    """A message to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class ValueEncoder(Protocol):
    def encode(self, value: dict[str, Any]) -> bytes: ...


EncoderFor = Callable[[str, str], ValueEncoder]
"""(topic, demand id) → encoder of the values of that projection (the Avro contract, with the
registry's schema id)."""


class CallKey(NamedTuple):
    """What one metrics row aggregates over (the minute is added when the batch completes)."""

    department: str
    resource: str
    subscriber: str
    op: str
    outcome: str  # delivered | withheld | dead_letter
    reason: str


@dataclass
class CallAggregate:
    records: int = 0
    bytes: int = 0
    source_ts_ms: list[int] = field(default_factory=list)  # source commit times, for latency


@dataclass
class BatchOutput:
    """What a batch produces: messages to send and per-key counts for the metrics."""

    messages: list[Outgoing] = field(default_factory=list)
    calls: dict[CallKey, CallAggregate] = field(default_factory=dict)
    skipped: int = 0  # Debezium's own tombstones: nothing to route

    def count(self, key: CallKey, nbytes: int, source_ts_ms: int | None) -> None:
        agg = self.calls.get(key)
        if agg is None:
            agg = self.calls[key] = CallAggregate()
        agg.records += 1
        agg.bytes += nbytes
        if source_ts_ms is not None and len(agg.source_ts_ms) < 200:
            agg.source_ts_ms.append(source_ts_ms)


def department_of(raw_topic: str) -> str:
    """`cdc.<dept>.<schema>.<table>` → `<dept>`."""
    parts = raw_topic.split(".")
    return parts[1] if len(parts) >= 2 else "unknown"


def dlq_topic(department: str) -> str:
    return f"{DLQ_PREFIX}.{department}"


class BatchRouter:
    """Routes batches under one compiled policy; swap `policy`/`checks` to change the rules."""

    def __init__(self, policy: Policy, checks: QualityChecks, encoder_for: EncoderFor) -> None:
        self.policy = policy
        self.checks = checks
        self.encoder_for = encoder_for

    def route_batch(self, records: Sequence[RawRecord], now: datetime | None = None) -> BatchOutput:
        now = now or datetime.now(UTC)
        out = BatchOutput()
        policy, checks, encoder_for = self.policy, self.checks, self.encoder_for
        append, calls = out.messages.append, out.calls
        departments: dict[str, str] = {}
        for rec in records:
            if rec.value is None:
                out.skipped += 1  # Debezium's tombstone after a delete: the delete was routed
                continue
            dept = departments.get(rec.topic) or departments.setdefault(rec.topic, department_of(rec.topic))
            try:
                event = orjson.loads(rec.value)
                if not isinstance(event, dict):
                    raise ValueError(f"expected a JSON object, got {type(event).__name__}")
            except ValueError as exc:
                self._dead_letter(out, rec, dept, "", "decode", f"not a Debezium JSON event: {exc}", None)
                continue
            raw_op, raw_source = event.get("op"), event.get("source")
            op: str = raw_op if isinstance(raw_op, str) else "?"
            source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
            ts_ms = source.get("ts_ms") if isinstance(source.get("ts_ms"), int) else None
            verdict = checks.check_event(event)
            if not verdict.ok:
                check = verdict.failures[0].check
                self._dead_letter(out, rec, dept, verdict.resource or "", str(check), verdict.reason,
                                  verdict.responsible_unit, op=op, ts_ms=ts_ms)  # fmt: skip
                continue
            result = policy.route(event, now)
            resource = result.resource or ""
            if result.resource is None:
                self._dead_letter(out, rec, dept, "", Reason.UNKNOWN_SOURCE.value,
                                  result.withheld[0].detail if result.withheld else "unknown source", None,
                                  op=op, ts_ms=ts_ms)  # fmt: skip
                continue
            for held in result.withheld:
                if held.reason is Reason.MALFORMED_EVENT:
                    self._dead_letter(out, rec, dept, resource, held.reason.value, held.detail,
                                      _unit(policy, resource), op=op, ts_ms=ts_ms)  # fmt: skip
                    break
                out.count(
                    CallKey(dept, resource, held.subscriber or "", op, "withheld", held.reason.value), 0, None
                )
            if not result.deliveries:
                continue
            common = source_headers(rec, source, policy.version, op)
            key_bytes = rec.key
            for d in result.deliveries:
                value = d.value
                data = None if value is None else encoder_for(d.topic, d.demand_id).encode(value)
                append(Outgoing(d.topic, key_bytes, data, [*common, demand_header(d.demand_id)]))
                call = tuple.__new__(CallKey, (dept, resource, d.subscriber, d.op, DELIVERED, d.reason.value))
                agg = calls.get(call)
                if agg is None:
                    agg = calls[call] = CallAggregate()
                agg.records += 1
                if data is not None:
                    agg.bytes += len(data)
                if ts_ms is not None and len(agg.source_ts_ms) < 200:
                    agg.source_ts_ms.append(ts_ms)
        return out

    def _dead_letter(
        self,
        out: BatchOutput,
        rec: RawRecord,
        dept: str,
        resource: str,
        check: str,
        reason: str,
        unit: str | None,
        *,
        op: str = "?",
        ts_ms: int | None = None,
    ) -> None:
        headers = dead_letter_headers(rec, reason=reason, check=check, resource=resource, unit=unit or "")
        out.messages.append(Outgoing(dlq_topic(dept), rec.key, rec.value, headers))
        out.count(CallKey(dept, resource, "", op, "dead_letter", check), len(rec.value or b""), ts_ms)


def _unit(policy: Policy, resource: str) -> str | None:
    resp = policy.responsibility(resource)
    return resp.unit if resp is not None else None
