"""One batch of raw change records through decode → quality → policy → encode: pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

import orjson

from schemas.keys import key_prefix
from sharebus.catalog.models import MaskKind
from sharebus.core import naming
from sharebus.core.errors import SharebusError
from streams.key_index import PRESENT, entry_key
from streams.policy.compiled import Policy
from streams.policy.reasons import Reason
from streams.policy.results import Decision, Send, Withheld, masked_values
from streams.policy.target import Target
from streams.quality import QualityChecks
from streams.quality_feedback import masked_key
from streams.quality_tally import BatchQuality
from streams.router.lanes import Lane, LaneBook
from streams.router.lineage import SourceHeaders, dead_letter_headers, demand_header, resource_header
from streams.router.records import Outgoing, RawRecord

DELIVERED = "delivered"
ENCODE_CHECK = "encode"
"""The dead-letter check of a record whose value a mask or the Avro encoder refused."""


class ValueEncoder(Protocol):
    def encode(self, value: dict[str, Any]) -> bytes: ...

    def encode_row(self, row: Mapping[str, Any], masked: Mapping[str, Any]) -> bytes:
        """`encode` of the projection of `row`: fields delivered masked are read from `masked`."""
        ...


EncoderFor = Callable[[str, str, str], ValueEncoder]
"""(subscriber, resource, demand id) → encoder of the values of that projection (the Avro
contract, with the registry's schema id under the record-name subject of its topic)."""


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
    quality: BatchQuality | None = None  # per resource: seen, failed, non-null fields, commit times

    def aggregate(self, key: CallKey) -> CallAggregate:
        """The counts of `key` (created empty on first use)."""
        agg = self.calls.get(key)
        if agg is None:
            agg = self.calls[key] = CallAggregate()
        return agg

    def count(self, key: CallKey, nbytes: int, source_ts_ms: int | None, records: int = 1) -> None:
        agg = self.aggregate(key)
        agg.records += records
        agg.bytes += nbytes
        if source_ts_ms is not None and len(agg.source_ts_ms) < 200:
            agg.source_ts_ms.append(source_ts_ms)


class _Plan(NamedTuple):
    """How the router sends to one target under one policy version: its encoder's row writer,
    the start of its keys and its own headers, looked up once per target."""

    encode_row: Callable[[Mapping[str, Any], Mapping[str, Any]], bytes]
    key_prefix: bytes  # schemas.keys.key_prefix(resource)
    demand_header: tuple[str, bytes]
    resource_header: tuple[str, bytes]
    key_headers: tuple[tuple[str, bytes], ...]  # the pseudonym key's id, when it sends pseudonyms


class _Routing(NamedTuple):
    """One consistent policy version: a batch routes under the one in force when it starts."""

    policy: Policy
    checks: QualityChecks
    encoder_for: EncoderFor
    plans: dict[int, _Plan]  # id(target) → plan (targets live as long as their policy)
    lanes: LaneBook


class _Sent:
    """Deliveries counted under one send (target, op, reason) during a batch."""

    __slots__ = ("bytes", "department", "records", "resource", "send", "source_ts_ms")

    def __init__(self, send: Send, department: str, resource: str) -> None:
        self.send = send  # holds the send, so its id() is not reused during the batch
        self.department = department
        self.resource = resource
        self.records = 0
        self.bytes = 0
        self.source_ts_ms: list[int] = []


class _Held:
    """Records withheld under one entry (subscriber, reason) and op during a batch."""

    __slots__ = ("department", "held", "op", "records", "resource")

    def __init__(self, held: Withheld, op: str, department: str, resource: str) -> None:
        self.held = held  # holds the entry, so its id() is not reused during the batch
        self.op = op
        self.department = department
        self.resource = resource
        self.records = 0


_UNMASKED: Mapping[str, Any] = MappingProxyType({})
_UNSEEN: Any = object()


class BatchRouter:
    """Routes batches under one compiled policy; `swap` changes the rules between batches."""

    def __init__(
        self,
        policy: Policy,
        checks: QualityChecks,
        encoder_for: EncoderFor,
        *,
        lanes: bool = True,
        keys_topic: str | None = None,
    ) -> None:
        self._routing = _Routing(policy, checks, encoder_for, {}, LaneBook(policy, checks))
        self.lanes = lanes  # False: every record takes the general path (tests compare the two)
        self.keys_topic = keys_topic  # where the key index's changes go (None: kept in memory only)

    @property
    def policy(self) -> Policy:
        return self._routing.policy

    @property
    def checks(self) -> QualityChecks:
        return self._routing.checks

    def swap(self, policy: Policy, checks: QualityChecks, encoder_for: EncoderFor) -> None:
        """Put a new policy version in force (atomically: a running batch keeps the old one)."""
        self._routing = _Routing(policy, checks, encoder_for, {}, LaneBook(policy, checks))

    def route_batch(self, records: Sequence[RawRecord], now: datetime | None = None) -> BatchOutput:
        now = now or datetime.now(UTC)
        routing = self._routing
        policy, plans = routing.policy, routing.plans
        book = routing.lanes if self.lanes else None
        lanes: dict[tuple[Any, Any, Any], Lane | None] = {}  # this batch's sources only
        out = BatchOutput()
        quality = out.quality = BatchQuality(routing.checks.by_source, routing.checks.keys, _sampler(policy))
        append = out.messages.append
        sent: dict[int, _Sent] = {}
        withheld: dict[tuple[int, str], _Held] = {}
        departments: dict[str, str] = {}
        loads, lineage = orjson.loads, SourceHeaders(policy.version)
        for rec in records:
            if rec.value is None:
                out.skipped += 1  # Debezium's tombstone after a delete: the delete was routed
                continue
            dept = departments.get(rec.topic)
            if dept is None:
                dept = departments[rec.topic] = naming.department_of_raw_topic(rec.topic)
            try:
                event = loads(rec.value)
                if not isinstance(event, dict):
                    raise ValueError(f"expected a JSON object, got {type(event).__name__}")
            except ValueError as exc:
                self._dead_letter(out, rec, dept, "", "decode", f"not a Debezium JSON event: {exc}", None)
                continue
            raw_op, raw_source = event.get("op"), event.get("source")
            op: str = raw_op if isinstance(raw_op, str) else "?"
            source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
            ts_ms = source.get("ts_ms")
            if ts_ms.__class__ is not int:
                ts_ms = None
            where = (source.get("name"), source.get("schema") or source.get("db"), source.get("table"))
            quality.record(where, op, event, ts_ms)  # type: ignore[arg-type]
            lane = lanes.get(where, _UNSEEN)
            if lane is _UNSEEN:
                lane = lanes[where] = book.lane(where, now) if book is not None else None  # type: ignore[arg-type]
            fast = lane.decide(event, op) if lane is not None else None
            if fast is not None and lane is not None:
                resource, masks = lane.resource, lane.masks
                sends, held, image = fast
                for h in held:
                    counted_held = withheld.get((id(h), op))
                    if counted_held is None:
                        counted_held = withheld[(id(h), op)] = _Held(h, op, dept, resource)
                    counted_held.records += 1
            else:
                decision = self._decide(out, rec, dept, event, op, ts_ms, now)
                if decision is None:
                    continue
                resource, masks, sends, image = (
                    decision.resource or "",
                    decision.masks,
                    decision.sends,
                    decision.image or _UNMASKED,
                )
            if not sends:
                continue
            # Every send of the record is encoded before any is kept: a value the checks let
            # through but a mask or the encoder refuses dead-letters the whole record (never half
            # delivered), and routing goes on with the next one.
            masked = None
            encoded: list[tuple[Send, _Plan, bytes | None]] = []
            try:
                for send in sends:
                    target = send.target
                    plan = plans.get(id(target))
                    if plan is None:
                        plan = plans[id(target)] = _plan(routing, target)
                    if send.tombstone:
                        data = None
                    elif target.masked:
                        if masked is None:
                            masked = masked_values(masks, image)
                        data = plan.encode_row(image, masked)
                    else:
                        data = plan.encode_row(image, _UNMASKED)
                    encoded.append((send, plan, data))
            except Exception as exc:  # a bad value of this record, not a fault of the router
                self._unencodable(out, rec, dept, resource, exc, op, ts_ms)
                continue
            common = lineage(rec, source, op)
            pk = rec.key
            for send, plan, data in encoded:
                key = plan.key_prefix + pk + b"}" if pk is not None else None  # keys.wrap_key
                headers = [*common, plan.demand_header, plan.resource_header, *plan.key_headers]
                append(Outgoing(send.target.topic, key, data, headers))
                counted = sent.get(id(send))
                if counted is None:
                    counted = sent[id(send)] = _Sent(send, dept, resource)
                counted.records += 1
                if data is not None:
                    counted.bytes += len(data)
                if ts_ms is not None and len(counted.source_ts_ms) < 200:
                    counted.source_ts_ms.append(ts_ms)
        _merge_counts(out, sent, withheld)
        quality.finish()
        if self.keys_topic is not None:
            for resource, value, present in quality.key_changes:
                append(
                    Outgoing(self.keys_topic, entry_key(resource, value), PRESENT if present else None, [])
                )
        return out

    def _decide(
        self,
        out: BatchOutput,
        rec: RawRecord,
        dept: str,
        event: dict[str, Any],
        op: str,
        ts_ms: int | None,
        now: datetime,
    ) -> Decision | None:
        """The general path: every check and the policy's full decision. None when the record
        went to the dead letters; withheld entries are counted."""
        routing = self._routing
        verdict = routing.checks.check_event(event)
        if verdict.failures:
            check = verdict.failures[0].check
            self._dead_letter(
                out,
                rec,
                dept,
                verdict.resource or "",
                str(check),
                verdict.reason,
                verdict.responsible_unit,
                op=op,
                ts_ms=ts_ms,
            )
            return None
        decision = routing.policy.decide(event, now)
        resource = decision.resource
        if resource is None:
            detail = decision.withheld[0].detail if decision.withheld else "unknown source"
            unknown = Reason.UNKNOWN_SOURCE.value
            self._dead_letter(out, rec, dept, "", unknown, detail, None, op=op, ts_ms=ts_ms)
            return None
        for held in decision.withheld:
            if held.reason is Reason.MALFORMED_EVENT:
                self._dead_letter(
                    out,
                    rec,
                    dept,
                    resource,
                    held.reason.value,
                    held.detail,
                    _unit(routing.policy, resource),
                    op=op,
                    ts_ms=ts_ms,
                )
                return None
            out.count(
                CallKey(dept, resource, held.subscriber or "", op, "withheld", held.reason.value), 0, None
            )
        return decision

    def _unencodable(
        self,
        out: BatchOutput,
        rec: RawRecord,
        dept: str,
        resource: str,
        exc: Exception,
        op: str,
        ts_ms: int | None,
    ) -> None:
        detail = exc.render() if isinstance(exc, SharebusError) else f"{type(exc).__name__}: {exc}"
        unit = _unit(self._routing.policy, resource)
        self._dead_letter(out, rec, dept, resource, ENCODE_CHECK, detail[:1000], unit, op=op, ts_ms=ts_ms)

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
        out.messages.append(Outgoing(naming.dlq_topic(dept), rec.key, rec.value, headers))
        if out.quality is not None and resource:
            catalog = self._routing.policy.catalog
            out.quality.failed(resource, check, lambda: masked_key(catalog.resource(resource), rec.key))
        out.count(CallKey(dept, resource, "", op, "dead_letter", check), len(rec.value or b""), ts_ms)


def _sampler(policy: Policy) -> Callable[[str, Mapping[str, Any]], str]:
    """A row's key, masked as its fields may be shown: the sample of a consistency mismatch."""

    def sample(resource: str, row: Mapping[str, Any]) -> str:
        res = policy.catalog.resource(resource)
        if res is None:
            return ""
        return masked_key(res, orjson.dumps({name: row.get(name) for name in res.primary_key}))

    return sample


def _unit(policy: Policy, resource: str) -> str | None:
    """The unit responsible for `resource`'s data quality (None when the catalog names none)."""
    resp = policy.responsibility(resource)
    return resp.unit if resp is not None else None


def _plan(routing: _Routing, target: Target) -> _Plan:
    encoder = routing.encoder_for(target.subscriber, target.resource, target.demand_id)
    return _Plan(
        encoder.encode_row,
        key_prefix(target.resource),
        demand_header(target.demand_id),
        resource_header(target.resource),
        pseudonym_headers(routing.policy, target),
    )


def pseudonym_headers(policy: Policy, target: Target) -> tuple[tuple[str, bytes], ...]:
    """`sharebus.pseudonym.key_id` when `target` receives a field pseudonymised (else nothing)."""
    key_id, resource = policy.pseudonym_key_id, policy.catalog.resource(target.resource)
    if key_id is None or resource is None or not target.masked:
        return ()
    hidden = (resource.field(name) for name in target.hidden)
    if any(spec is not None and spec.mask is MaskKind.PSEUDONYM for spec in hidden):
        return ((naming.H_PSEUDONYM_KEY, key_id.encode()),)
    return ()


def _merge_counts(
    out: BatchOutput, sent: Mapping[int, _Sent], withheld: Mapping[tuple[int, str], _Held]
) -> None:
    """The batch's fast-lane counts into the per-key counts of the metrics."""
    for h in withheld.values():
        held = h.held
        key = CallKey(h.department, h.resource, held.subscriber or "", h.op, "withheld", held.reason.value)
        out.count(key, 0, None, records=h.records)
    for c in sent.values():
        t, op, reason, _ = c.send
        agg = out.aggregate(CallKey(c.department, c.resource, t.subscriber, op, DELIVERED, reason.value))
        agg.records += c.records
        agg.bytes += c.bytes
        room = 200 - len(agg.source_ts_ms)
        if room > 0:
            agg.source_ts_ms.extend(c.source_ts_ms[:room])
