"""Which subscribers need current rows, from how the policy's reach changed: a new entitlement
(approved demand), rows of more districts (a district added to a subscriber), or a projection
that changed (fields added, masks lifted or imposed) — grouped into one snapshot per resource."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sharebus.catalog.models import Resource
from sharebus.core import naming
from streams.policy.compiled import Policy


@dataclass(frozen=True)
class Reach:
    """What one subscriber receives of one resource at some time: projection and region codes
    (None: the resource is not partitioned by region, every row)."""

    subscriber: str
    resource: str
    fields: tuple[str, ...]
    masked: tuple[str, ...]
    codes: tuple[str, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscriber": self.subscriber,
            "resource": self.resource,
            "fields": list(self.fields),
            "masked": list(self.masked),
            "codes": None if self.codes is None else list(self.codes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reach:
        codes = d.get("codes")
        return cls(
            str(d["subscriber"]),
            str(d["resource"]),
            tuple(d.get("fields") or ()),
            tuple(d.get("masked") or ()),
            None if codes is None else tuple(codes),
        )


def reach_key(subscriber: str, resource: str) -> str:
    """The key of one subscriber's reach of one resource: `share.<subscriber>.<resource>` (the
    topic name of the per-resource layout, so reach recorded before the layout changed still
    compares, and the upgrade snapshots nothing again)."""
    return f"{naming.share_prefix(subscriber)}{resource}"


def reach_of(policy: Policy, now: datetime) -> dict[str, Reach]:
    """Every subscriber's reach of each resource at `now`, by `reach_key`."""
    out: dict[str, Reach] = {}
    for ent in policy.entitlements(now):
        res = policy.resources[ent.resource]
        codes: tuple[str, ...] | None = None
        if res.region_field is not None:
            table = res.table_at(now)
            codes = tuple(
                sorted(
                    c
                    for c, ts in table.by_district.items()
                    if any(t.subscriber == ent.subscriber for t in ts)
                )
            )
        out[reach_key(ent.subscriber, ent.resource)] = Reach(
            ent.subscriber, ent.resource, ent.fields, ent.masked, codes
        )
    return out


@dataclass(frozen=True)
class BackfillJob:
    """One incremental snapshot of a resource's source table: the rows of `codes` (None: all)
    for `subscribers`, under catalog `catalog_version`."""

    id: str
    resource: str
    subscribers: tuple[str, ...]
    codes: tuple[str, ...] | None
    where: str | None
    catalog_version: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "subscribers": list(self.subscribers),
            "codes": None if self.codes is None else list(self.codes),
            "where": self.where,
            "catalog_version": self.catalog_version,
            "reason": self.reason,
        }


def _needed(old: Reach | None, new: Reach) -> tuple[set[str] | None, str] | None:
    """The codes whose rows `new` needs again (None: all rows), and why; None: nothing."""
    if old is None:
        return (None if new.codes is None else set(new.codes)), "new entitlement"
    if set(new.fields) - set(old.fields):
        return (None if new.codes is None else set(new.codes)), "fields added to the projection"
    if set(new.masked) != set(old.masked):
        return (None if new.codes is None else set(new.codes)), "masking changed"
    if new.codes is not None and old.codes is not None and set(new.codes) - set(old.codes):
        return set(new.codes) - set(old.codes), "districts added"
    return None


def condition(resource: Resource, codes: set[str] | None, all_codes: set[str]) -> str | None:
    """The snapshot's WHERE condition on the source table (region codes are six digits, checked
    by the catalog, so they are safe as literals); None for the whole table."""
    if codes is None or resource.region_field is None or codes >= all_codes:
        return None
    listed = ", ".join(f"'{c}'" for c in sorted(codes))
    return f"{resource.region_field} IN ({listed})"


def plan(old: Mapping[str, Reach] | None, new: Mapping[str, Reach], policy: Policy) -> list[BackfillJob]:
    """The snapshots that give each subscriber of `new` what `old` did not reach (one per
    resource). Without `old` (nothing recorded yet) there is nothing to compare: no jobs."""
    if old is None:
        return []
    per_resource: dict[str, tuple[list[str], set[str] | None, list[str]]] = {}
    for key, reach in sorted(new.items()):
        needed = _needed(old.get(key), reach)
        if needed is None:
            continue
        codes, why = needed
        subs, union, reasons = per_resource.get(reach.resource, ([], set(), []))
        subs.append(reach.subscriber)
        reasons.append(f"{reach.subscriber}: {why}")
        union = None if union is None or codes is None else union | codes
        per_resource[reach.resource] = (subs, union, reasons)
    jobs = []
    catalog = policy.catalog
    everywhere = {d.code for d in catalog.districts}
    for rid, (subs, codes, reasons) in sorted(per_resource.items()):
        resource = catalog.resource(rid)
        assert resource is not None
        jobs.append(
            BackfillJob(
                id=f"backfill-{uuid.uuid4().hex[:12]}",
                resource=rid,
                subscribers=tuple(subs),
                codes=None if codes is None else tuple(sorted(codes)),
                where=condition(resource, codes, everywhere),
                catalog_version=policy.version,
                reason="; ".join(reasons),
            )
        )
    return jobs


def job_for(policy: Policy, subscriber: str, resource: str, now: datetime) -> BackfillJob | None:
    """A job giving one subscriber all its current rows of one resource (explicit backfill);
    None when the subscriber is not entitled to the resource at `now`."""
    reach = next(
        (r for r in reach_of(policy, now).values() if r.subscriber == subscriber and r.resource == resource),
        None,
    )
    if reach is None:
        return None
    jobs = plan({}, {"_": reach}, policy)
    return jobs[0] if jobs else None
