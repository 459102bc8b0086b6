"""The per-record routing algorithm: from one row change and the resource's table in force,
the deliveries (projected, masked rows and tombstones) and what is withheld, with reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.policy.envelope import OP_DELETE, OP_UPDATE
from streams.policy.reasons import Reason
from streams.policy.results import Delivery, RouteResult, Withheld
from streams.policy.tables import CompiledResource, Table, Target

_NO_SUBSCRIBER = "no subscriber in force for this row"


def _result(
    res: CompiledResource,
    op: str,
    reason: Reason,
    detail: str,
    version: str,
) -> RouteResult:
    return RouteResult(res.id, op, (), (Withheld(None, reason, detail),), (), version)


def _key(res: CompiledResource, row: Mapping[str, Any]) -> dict[str, Any] | None:
    key = {name: row.get(name) for name in res.primary_key}
    return None if None in key.values() else key


def _targets(
    res: CompiledResource, table: Table, row: Mapping[str, Any]
) -> tuple[tuple[Target, ...], tuple[Withheld, ...]] | Reason:
    """Targets and withheld entries for a row's region, or the reason it cannot be routed."""
    if res.region_field is None:
        return table.everyone, table.withheld_all
    code = row.get(res.region_field)
    if code is None:
        return Reason.REGION_MISSING
    if not isinstance(code, str):
        return Reason.REGION_UNKNOWN
    targets = table.by_district.get(code)
    if targets is None:
        return Reason.REGION_UNKNOWN
    return targets, table.withheld_by_district[code]


def _deliver(
    res: CompiledResource,
    targets: tuple[Target, ...],
    row: Mapping[str, Any],
    key: Mapping[str, Any],
    op: str,
) -> list[Delivery]:
    out: list[Delivery] = []
    masked_row: dict[str, Any] | None = None
    rid = res.id
    for t in targets:
        if t.masked:
            if masked_row is None:
                masked_row = dict(row)
                for name, fn in res.masks:
                    masked_row[name] = fn(row.get(name))
            value = {f: masked_row.get(f) for f in t.fields}
            for f in t.clear:
                value[f] = row.get(f)
        else:
            value = {f: row.get(f) for f in t.fields}
        out.append(Delivery(t.subscriber, rid, t.topic, key, value, op, t.reason, t.demand_id))
    return out


def _moved_out(
    res: CompiledResource,
    table: Table,
    before: Any,
    after: Mapping[str, Any],
    staying: tuple[Target, ...],
    key: Mapping[str, Any],
) -> list[Delivery] | Withheld:
    """Tombstones for subscribers of the before-image's district that do not receive the
    after-image's district; a Withheld when there is no before-image to tell."""
    field = res.region_field or ""
    if not isinstance(before, dict) or field not in before:
        detail = "update without before-image: a move out of a district is not tombstoned"
        return Withheld(None, Reason.BEFORE_IMAGE_MISSING, detail)
    old = before[field]
    if old == after[field] or not isinstance(old, str):
        return []
    kept = {t.subscriber for t in staying}
    return [
        Delivery(t.subscriber, res.id, t.topic, key, None, OP_DELETE, Reason.MOVED_OUT, t.demand_id)
        for t in table.by_district.get(old, ())
        if t.subscriber not in kept
    ]


def route_row(
    res: CompiledResource, table: Table, op: str, event: Mapping[str, Any], version: str
) -> RouteResult:
    """Route a c/u/r/d event of a shared resource.

    - c, r, u: the after-image, projected and masked per target, to the targets of its region;
      an update whose before-image is in another region also sends a tombstone to each
      subscriber of the old region that does not receive the new one (reason moved_out).
    - d: a tombstone to each target of the before-image's region.
    Row-out-of-region is not reported per subscriber; a row nobody receives yields one
    `no_subscriber` entry. Columns the catalog does not know are dropped (`schema_drift`).
    """
    image = event.get("before" if op == OP_DELETE else "after")
    if not isinstance(image, dict):
        which = "before" if op == OP_DELETE else "after"
        return _result(res, op, Reason.MALFORMED_EVENT, f"op {op} without {which}-image", version)
    key = _key(res, image)
    if key is None:
        detail = f"key field missing: {', '.join(res.primary_key)}"
        return _result(res, op, Reason.MALFORMED_EVENT, detail, version)
    routed = _targets(res, table, image)
    if isinstance(routed, Reason):
        detail = f"{res.region_field} = {image.get(res.region_field or '')!r}"
        return _result(res, op, routed, detail, version)
    targets, held = routed

    if op == OP_DELETE:
        deliveries = [
            Delivery(t.subscriber, res.id, t.topic, key, None, op, t.reason, t.demand_id) for t in targets
        ]
        dropped: tuple[str, ...] = ()
    else:
        deliveries = _deliver(res, targets, image, key, op)
        unknown = image.keys() - res.known_fields if not image.keys() <= res.known_fields else ()
        dropped = tuple(sorted(unknown))
        if dropped:
            held += (Withheld(None, Reason.SCHEMA_DRIFT, f"dropped: {', '.join(dropped)}"),)
        if op == OP_UPDATE and res.region_field is not None:
            moved = _moved_out(res, table, event.get("before"), image, targets, key)
            if isinstance(moved, Withheld):
                held += (moved,)
            else:
                deliveries += moved
    if not deliveries and not held:
        held = (Withheld(None, Reason.NO_SUBSCRIBER, _NO_SUBSCRIBER),)
    return RouteResult(res.id, op, tuple(deliveries), held, dropped, version)
