"""Compile a validated catalog into the immutable `Policy` the router calls for every record;
its `version` is the catalog's content hash."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from sharebus.catalog.models import (
    ALL_DISTRICTS,
    Catalog,
    Demand,
    DemandStatus,
    Grade,
    MaskKind,
    Resource,
    Responsibility,
    Sharing,
    SubscriberDemand,
    SubscriberKind,
)
from sharebus.core import naming, pacing
from sharebus.core.errors import SharebusError
from sharebus.core.gcpause import collections_paused
from streams.policy.envelope import OP_TRUNCATE, ROW_OPS, SourceKey, source_key
from streams.policy.masks import MaskFn, make_pseudonym, mask_function, pseudonym_key_id
from streams.policy.reasons import Reason
from streams.policy.results import Decision, RouteResult, project, withhold_all
from streams.policy.route import decide_row
from streams.policy.tables import Candidate, CompiledResource
from streams.policy.target import Target


class PolicyError(SharebusError):
    """The policy was called against its contract (e.g. a naive `now`)."""


class Entitlement(NamedTuple):
    """A subscriber's projection of a resource in force at some time: for creating topics and
    per-subscriber record schemas. `topic` carries the resource's department's resources."""

    subscriber: str
    resource: str
    topic: str
    demand_id: str
    fields: tuple[str, ...]
    masked: tuple[str, ...]


class _Projection(NamedTuple):
    """What one demand grants of one resource: the same for every district of an
    `all-districts` demand (computed once, shared by their targets)."""

    fields: tuple[str, ...]
    clear: tuple[str, ...]
    masked: bool
    hidden: tuple[str, ...]
    reason: Reason


def _projection(res: Resource, demand: Demand, maskable: frozenset[str]) -> _Projection:
    requested = set(demand.fields) if demand.fields is not None else None
    clear = set(demand.clear) if demand.status is DemandStatus.APPROVED else set()
    fields: list[str] = []
    masked: list[str] = []
    overrides: list[str] = []
    for spec in res.fields:
        wanted = requested is None or spec.name in requested or spec.name in res.primary_key
        if not wanted or spec.grade is Grade.SECRET:
            continue
        if spec.grade is Grade.SENSITIVE and spec.name not in clear:
            if spec.mask is MaskKind.REDACT:
                continue
            masked.append(spec.name)
        elif spec.grade is Grade.SENSITIVE and spec.mask is not MaskKind.REDACT:
            overrides.append(spec.name)
        fields.append(spec.name)
    reason = Reason.SHARED_UNCONDITIONAL if res.sharing is Sharing.UNCONDITIONAL else Reason.SHARED_APPROVED
    out_clear = tuple(overrides) if masked else ()
    hidden = tuple(f for f in fields if masked and f in maskable and f not in out_clear)
    return _Projection(tuple(fields), out_clear, bool(masked), hidden, reason)


def _target(res: Resource, binding: SubscriberDemand, projection: _Projection, topic: str) -> Target:
    # positional: ~100,000 are made at the city's size
    return Target(
        binding.subscriber,
        res.id,
        topic,
        binding.id,
        projection.reason,
        projection.fields,
        projection.clear,
        projection.masked,
        projection.hidden,
    )


def _precedence(c: Candidate) -> tuple[int, int, float, str]:
    """Approved before pending, explicit before `all-districts`, newest first, then by id."""
    demand = c.binding.demand
    return (
        0 if demand.status is DemandStatus.APPROVED else 1,
        1 if c.binding.expanded else 0,
        -demand.valid_from.timestamp(),
        c.binding.id,
    )


def _compile_resource(
    catalog: Catalog,
    res: Resource,
    rows_of: Mapping[str, frozenset[str] | None],
    bindings: list[SubscriberDemand],
    pseudonym: MaskFn | None,
) -> CompiledResource:
    masks: list[tuple[str, MaskFn]] = []
    for spec in res.fields:
        if spec.grade is Grade.SENSITIVE and spec.mask is not None:
            fn = mask_function(spec.mask, pseudonym=pseudonym)
            if fn is not None:
                masks.append((spec.name, fn))
    grouped: dict[str, list[Candidate]] = defaultdict(list)
    if res.sharing is not Sharing.NOT_SHARED:
        maskable = frozenset(name for name, _ in masks)
        projections: dict[str, _Projection] = {}
        department = res.department
        for b in bindings:
            projection = projections.get(b.demand.id)
            if projection is None:
                projection = projections[b.demand.id] = _projection(res, b.demand, maskable)
            subscriber = b.subscriber
            target = _target(res, b, projection, naming.share_topic(subscriber, department))
            grouped[subscriber].append(Candidate(b, target, rows_of[subscriber]))
    demands = {id(b.demand): b.demand for b in bindings}.values()  # an all-districts demand binds 41
    boundaries = sorted(
        {d.valid_from for d in demands} | {d.valid_until for d in demands if d.valid_until is not None}
    )
    return CompiledResource(
        id=res.id,
        sharing=res.sharing,
        region_field=res.region_field,
        primary_key=res.primary_key,
        known_fields=frozenset(f.name for f in res.fields),
        masks=tuple(masks),
        districts=tuple(d.code for d in catalog.districts),
        candidates={
            s: tuple(cs) if len(cs) == 1 else tuple(sorted(cs, key=_precedence)) for s, cs in grouped.items()
        },
        boundaries=tuple(boundaries),
    )


def subscriber_rows(catalog: Catalog) -> dict[str, frozenset[str] | None]:
    """Each subscriber's row filter: its own code, a zone's districts, a department's districts
    or None (city-wide)."""
    rows: dict[str, frozenset[str] | None] = {d.code: frozenset({d.code}) for d in catalog.districts}
    for s in catalog.subscribers:
        city_wide = s.kind is SubscriberKind.DEPARTMENT and s.city_wide
        rows[s.id] = None if city_wide else frozenset(s.districts or ())
    return rows


class Policy:
    """The compiled sharing policy of one catalog version. Pure: `route` depends only on the
    event, `now` and the catalog (plus the pseudonym key)."""

    __slots__ = (
        "_by_source",
        "_responsible",
        "catalog",
        "inputs",
        "pseudonym_key_id",
        "resources",
        "version",
    )

    def __init__(
        self,
        catalog: Catalog,
        resources: Mapping[str, CompiledResource],
        inputs: _Inputs | None = None,
        pseudonym_key_id: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.pseudonym_key_id = pseudonym_key_id  # of the key its pseudonyms are made with
        self.inputs = inputs  # what each resource was compiled from (a later version reuses it)
        self.version = catalog.version
        self.resources: Mapping[str, CompiledResource] = MappingProxyType(dict(resources))
        self._responsible = {r.resource: r for r in catalog.responsibilities}
        self._by_source: dict[SourceKey, CompiledResource] = {}
        for res in catalog.resources:
            schema, _, table = res.source.table.partition(".")
            self._by_source[(res.source.connector, schema, table)] = self.resources[res.id]

    def resource_for(self, event: Mapping[str, Any]) -> CompiledResource | None:
        """The resource an event belongs to, by its source (connector, schema, table)."""
        key = source_key(event)
        return self.resource_at_source(key) if key is not None else None

    def resource_at_source(self, key: SourceKey) -> CompiledResource | None:
        """The resource whose events come from `key` (connector, schema, table)."""
        return self._by_source.get(key)

    def responsibility(self, resource_id: str) -> Responsibility | None:
        """Who answers for a resource (the responsibility list entry)."""
        return self._responsible.get(resource_id)

    def route(self, event: Mapping[str, Any], now: datetime) -> RouteResult:
        """Decide who receives this change event at `now` (timezone-aware), and how: the
        deliveries with their projected, masked values."""
        return project(self.decide(event, now))

    def decide(self, event: Mapping[str, Any], now: datetime) -> Decision:
        """`route` without building values: the targets to send to (the router encodes their
        projections straight from the row)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise PolicyError(
                "Policy.route",
                "needs a timezone-aware `now`",
                expected="a datetime with tzinfo, e.g. datetime.now(UTC)",
                actual=repr(now),
                fix="pass datetime.now(UTC)",
            )
        key = source_key(event)
        res = self._by_source.get(key) if key is not None else None
        op = event.get("op")
        if res is None:
            where = ".".join(key) if key is not None else "no source block"
            return withhold_all(
                None,
                op if isinstance(op, str) else None,
                Reason.UNKNOWN_SOURCE,
                f"source {where}: no resource of catalog {self.version} names this table; publish"
                " its catalog entry, then re-read its rows with `sharebus connectors resnapshot`",
                self.version,
            )
        if op == OP_TRUNCATE:
            return withhold_all(res.id, op, Reason.TRUNCATE, "truncate is not routed", self.version)
        if not isinstance(op, str) or op not in ROW_OPS:
            return withhold_all(res.id, None, Reason.MALFORMED_EVENT, f"unknown op {op!r}", self.version)
        if res.sharing is Sharing.NOT_SHARED:
            return withhold_all(res.id, op, Reason.NOT_SHARED, f"{res.id} is not shared", self.version)
        return decide_row(res, res.table_at(now), op, event, self.version)

    def entitlements(self, now: datetime) -> tuple[Entitlement, ...]:
        """Every (subscriber, resource) projection in force at `now`, sorted by topic and resource."""
        seen: list[Entitlement] = []
        for res in self.resources.values():
            if res.sharing is Sharing.NOT_SHARED:
                continue
            for t in res.in_force(now):
                seen.append(Entitlement(t.subscriber, res.id, t.topic, t.demand_id, t.fields, t.hidden))
        seen.sort(key=lambda e: (e.topic, e.resource))
        return tuple(seen)


class _Inputs(NamedTuple):
    """What a compiled resource depends on, beyond itself and its demands: the same context lets
    a new catalog version reuse every resource whose definition and demands did not change."""

    context: tuple[Any, ...]  # districts, subscribers, the pseudonym key's digest
    per_resource: Mapping[str, tuple[Resource, tuple[Demand, ...]]]


@collections_paused()
def compile_policy(
    catalog: Catalog, *, pseudonym_key: bytes | None = None, previous: Policy | None = None
) -> Policy:
    """Compile a validated catalog. `pseudonym_key` (SHAREBUS_PSEUDONYM_KEY) is required when a
    field uses the pseudonym mask; ConfigError otherwise. With `previous` (the policy in force),
    only resources whose definition or demands changed are compiled again (a publish that
    approves one demand recompiles one resource); a change of districts, subscribers or key
    recompiles everything."""
    uses_pseudonym = any(f.mask is MaskKind.PSEUDONYM for r in catalog.resources for f in r.fields)
    pseudonym = make_pseudonym(pseudonym_key) if uses_pseudonym else None
    key_digest = hashlib.sha256(pseudonym_key).hexdigest() if pseudonym_key is not None else None
    context = (catalog.districts, catalog.subscribers, key_digest)
    demands: dict[str, list[Demand]] = defaultdict(list)
    for demand in catalog.demands:
        demands[demand.resource].append(demand)
    per_resource = {res.id: (res, tuple(demands[res.id])) for res in catalog.resources}
    old = previous.inputs if previous is not None else None
    reuse = previous is not None and old is not None and old.context == context
    rows_of = subscriber_rows(catalog)
    compiled: dict[str, CompiledResource] = {}
    for res in catalog.resources:
        pacing.pace()
        if (
            reuse
            and previous is not None
            and old is not None
            and old.per_resource.get(res.id) == per_resource[res.id]
        ):
            compiled[res.id] = previous.resources[res.id]
        else:
            bindings = _bindings(catalog, per_resource[res.id][1])
            compiled[res.id] = _compile_resource(catalog, res, rows_of, bindings, pseudonym)
    key_id = pseudonym_key_id(pseudonym_key) if pseudonym is not None and pseudonym_key is not None else None
    return Policy(catalog, compiled, _Inputs(context, per_resource), key_id)


def _bindings(catalog: Catalog, demands: tuple[Demand, ...]) -> list[SubscriberDemand]:
    """A resource's demands bound to concrete subscribers, `all-districts` expanded (as
    `Catalog.subscriber_demands`, for one resource)."""
    out: list[SubscriberDemand] = []
    for demand in demands:
        if demand.subscriber == ALL_DISTRICTS:
            out.extend(
                SubscriberDemand(f"{demand.id}/{d.code}", d.code, demand, True) for d in catalog.districts
            )
        else:
            out.append(SubscriberDemand(demand.id, demand.subscriber, demand, False))
    return out
