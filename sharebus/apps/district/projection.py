"""What a subscriber should hold of a resource: the source rows as Debezium snapshot (`r`)
events, through the same quality checks and `Policy.route` the router runs — no second copy of
the sharing rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.derive import value_schema
from sharebus.apps.district.columns import Kind, columns_of
from sharebus.apps.district.normalize import key_of, row_values
from sharebus.catalog.models import Resource
from streams.policy.compiled import Entitlement, Policy
from streams.policy.envelope import OP_READ
from streams.quality import QualityChecks


@dataclass(frozen=True)
class Layout:
    """The projection in force: fields in order, their kinds, and the key fields."""

    fields: tuple[str, ...]
    kinds: dict[str, Kind]
    keys: tuple[str, ...]


@dataclass
class Expected:
    """The projected rows by canonical key, and what never reaches any subscriber."""

    rows: dict[bytes, tuple[Any, ...]] = field(default_factory=dict)
    scanned: int = 0
    dead_letters: int = 0  # rows failing a quality check (the router dead-letters them)


def layout_of(city: str, resource: Resource, ent: Entitlement | None) -> Layout:
    """The layout of an entitlement's projection; with none (revoked, expired), the key only —
    whatever the district still holds of the resource is then extra."""
    fields = ent.fields if ent is not None else resource.primary_key
    schema = value_schema(city, resource, fields, ent.masked if ent is not None else ())
    cols = columns_of(schema, resource.id)
    kinds = {c.name: c.kind for c in cols}
    return Layout(tuple(c.name for c in cols), kinds, tuple(resource.primary_key))


def region_codes(policy: Policy, resource_id: str, subscriber: str, now: datetime) -> list[str] | None:
    """The region codes whose rows the policy routes to `subscriber` at `now` (None: the resource
    is not partitioned by region). Only narrows what is read; each row is still routed."""
    res = policy.resources[resource_id]
    if res.region_field is None:
        return None
    table = res.table_at(now)
    return sorted(
        code
        for code, targets in table.by_district.items()
        if any(t.subscriber == subscriber for t in targets)
    )


def project(
    policy: Policy,
    checks: QualityChecks,
    resource: Resource,
    subscriber: str,
    layout: Layout,
    rows: Iterable[dict[str, Any]],
    now: datetime,
) -> Expected:
    """Route each source row as an `r` event at `now`; keep what `subscriber` receives."""
    schema, table = resource.source.schema_name, resource.source.table_name
    source = {
        "name": resource.source.connector,
        "schema": schema,
        "db": schema,
        "table": table,
        "snapshot": "true",
    }
    out = Expected()
    for after in rows:
        out.scanned += 1
        event = {"op": OP_READ, "before": None, "after": after, "source": source}
        if not checks.check_event(event).ok:
            out.dead_letters += 1
            continue
        for d in policy.route(event, now).deliveries:
            if d.subscriber == subscriber and d.value is not None:
                out.rows[key_of(layout.kinds, layout.keys, d.key)] = row_values(
                    layout.kinds, layout.fields, d.value
                )
    return out
