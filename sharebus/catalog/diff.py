"""Differences between two catalog versions: entries and fields added, removed or changed, each
marked when it widens what some subscriber may receive (for the approver's review)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sharebus.catalog.models import (
    ALL_DISTRICTS,
    Catalog,
    Demand,
    DemandStatus,
    FieldSpec,
    Grade,
    MaskKind,
    Resource,
    Sharing,
    Subscriber,
)

ChangeKind = Literal["added", "removed", "changed"]

_SHARING_RANK = {Sharing.NOT_SHARED: 0, Sharing.CONDITIONAL: 1, Sharing.UNCONDITIONAL: 2}
_GRADE_RANK = {Grade.SECRET: 0, Grade.SENSITIVE: 1, Grade.INTERNAL: 2, Grade.PUBLIC: 3}
_MASK_RANK = {MaskKind.REDACT: 0, MaskKind.PSEUDONYM: 1, None: 3}  # partial masks rank 2


@dataclass(frozen=True, slots=True)
class AttributeChange:
    """One attribute of an entry, before and after (JSON values)."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class Change:
    """One entry added, removed or changed. `kind` is city, district, subscriber, department,
    resource, field (id `<resource>.<field>`), demand or responsibility."""

    kind: str
    id: str
    change: ChangeKind
    attributes: tuple[AttributeChange, ...] = ()
    widens: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "change": self.change,
            "widens": self.widens,
            "attributes": {a.name: {"old": a.old, "new": a.new} for a in self.attributes},
        }


@dataclass(frozen=True, slots=True)
class CatalogDiff:
    """All changes from `old_version` to `new_version`, in a stable order."""

    old_version: str
    new_version: str
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "changes": [c.to_dict() for c in self.changes],
        }


def _attributes(old: Any, new: Any, skip: Iterable[str] = ()) -> tuple[AttributeChange, ...]:
    a = old.model_dump(mode="json", exclude=set(skip))
    b = new.model_dump(mode="json", exclude=set(skip))
    keys = sorted(a.keys() | b.keys())
    return tuple(AttributeChange(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k))


def _compare(
    kind: str,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    skip: Iterable[str] = (),
    widens_added: Callable[[Any], bool] = lambda _: False,
    widens_changed: Callable[[Any, Any], bool] = lambda _a, _b: False,
) -> list[Change]:
    out: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            out.append(Change(kind, key, "removed"))
        elif key not in old:
            out.append(Change(kind, key, "added", widens=widens_added(new[key])))
        else:
            attrs = _attributes(old[key], new[key], skip)
            if attrs:
                widens = widens_changed(old[key], new[key])
                out.append(Change(kind, key, "changed", attrs, widens))
    return out


def _resource_widens(a: Resource, b: Resource) -> bool:
    return _SHARING_RANK[b.sharing] > _SHARING_RANK[a.sharing] or (
        a.region_field is not None and b.region_field is None
    )


def _field_widens(a: FieldSpec, b: FieldSpec) -> bool:
    if _GRADE_RANK[b.grade] != _GRADE_RANK[a.grade]:
        return _GRADE_RANK[b.grade] > _GRADE_RANK[a.grade]
    return _MASK_RANK.get(b.mask, 2) > _MASK_RANK.get(a.mask, 2)


def _subscriber_widens(a: Subscriber, b: Subscriber) -> bool:
    added = set(b.districts or ()) - set(a.districts or ())
    return (b.city_wide and not a.city_wide) or bool(added)


def _demand_effective(d: Demand, catalog: Catalog) -> bool:
    res = catalog.resource(d.resource)
    if res is None or res.sharing is Sharing.NOT_SHARED:
        return False
    if d.status is DemandStatus.APPROVED:
        return True
    return d.status is DemandStatus.PENDING and res.sharing is Sharing.UNCONDITIONAL


def _later(a: datetime | None, b: datetime | None) -> bool:
    """True when end of validity `b` is later than `a` (None = open-ended)."""
    return a is not None and (b is None or b > a)


def _demand_widens(a: Demand, b: Demand, catalog: Catalog) -> bool:
    if not _demand_effective(b, catalog):
        return False
    if not _demand_effective(a, catalog) or a.subscriber != b.subscriber:
        return True
    res = catalog.resource(b.resource)
    every = {f.name for f in res.fields} if res is not None else set()
    fields_a = set(a.fields) if a.fields is not None else every
    fields_b = set(b.fields) if b.fields is not None else every
    clear_a = set(a.clear) if a.status is DemandStatus.APPROVED else set()
    clear_b = set(b.clear) if b.status is DemandStatus.APPROVED else set()
    return (
        bool(fields_b - fields_a)
        or bool(clear_b - clear_a)
        or b.valid_from < a.valid_from
        or _later(a.valid_until, b.valid_until)
    )


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogDiff:
    """Every difference from `old` to `new`; `widens` marks changes that may give a subscriber
    more rows, fields or clear text than before."""
    changes: list[Change] = []
    if old.city != new.city:
        changes.append(Change("city", new.city.id, "changed", _attributes(old.city, new.city)))
    expands = any(d.subscriber == ALL_DISTRICTS for d in new.demands)
    changes += _compare(
        "district",
        {d.code: d for d in old.districts},
        {d.code: d for d in new.districts},
        widens_added=lambda _: expands,
    )
    changes += _compare(
        "subscriber",
        {s.id: s for s in old.subscribers},
        {s.id: s for s in new.subscribers},
        widens_changed=_subscriber_widens,
    )
    changes += _compare("department", {d.id: d for d in old.departments}, {d.id: d for d in new.departments})
    old_res = {r.id: r for r in old.resources}
    new_res = {r.id: r for r in new.resources}
    changes += _compare("resource", old_res, new_res, skip=("fields",), widens_changed=_resource_widens)
    for rid in sorted(old_res.keys() & new_res.keys()):
        changes += _compare(
            "field",
            {f"{rid}.{f.name}": f for f in old_res[rid].fields},
            {f"{rid}.{f.name}": f for f in new_res[rid].fields},
            widens_added=lambda f: f.grade is not Grade.SECRET,
            widens_changed=_field_widens,
        )
        order_a = [f.name for f in old_res[rid].fields]
        order_b = [f.name for f in new_res[rid].fields]
        if order_a != order_b and sorted(order_a) == sorted(order_b):
            attr = AttributeChange("field_order", order_a, order_b)
            changes.append(Change("resource", rid, "changed", (attr,)))
    changes += _compare(
        "demand",
        {d.id: d for d in old.demands},
        {d.id: d for d in new.demands},
        widens_added=lambda d: _demand_effective(d, new),
        widens_changed=lambda a, b: _demand_widens(a, b, new),
    )
    changes += _compare(
        "responsibility",
        {r.resource: r for r in old.responsibilities},
        {r.resource: r for r in new.responsibilities},
    )
    return CatalogDiff(old.version, new.version, tuple(changes))
