"""The per-record routing algorithm: from one row change and the resource's table in force,
who receives it (each target's projection, or a tombstone) and what is withheld, with reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.policy.envelope import OP_DELETE, OP_UPDATE
from streams.policy.reasons import Reason
from streams.policy.results import Decision, Send, Withheld, withhold_all
from streams.policy.tables import CompiledResource, Table
from streams.policy.target import Target

_NO_SUBSCRIBER = "no subscriber in force for this row"


def _key(res: CompiledResource, row: Mapping[str, Any]) -> dict[str, Any] | None:
    key = {name: row.get(name) for name in res.primary_key}
    return None if None in key.values() else key


def _region(res: CompiledResource, table: Table, row: Mapping[str, Any]) -> str | Reason | None:
    """The row's district code (None: a city-wide resource), or the reason it cannot be routed."""
    if res.region_field is None:
        return None
    code = row.get(res.region_field)
    if code is None:
        return Reason.REGION_MISSING
    if not isinstance(code, str) or code not in table.by_district:
        return Reason.REGION_UNKNOWN
    return code


def _moved_out(
    res: CompiledResource,
    table: Table,
    before: Any,
    after: Mapping[str, Any],
    staying: tuple[Target, ...],
) -> list[Send] | Withheld:
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
        Send(t, OP_DELETE, Reason.MOVED_OUT, True)
        for t in table.by_district.get(old, ())
        if t.subscriber not in kept
    ]


def decide_row(
    res: CompiledResource, table: Table, op: str, event: Mapping[str, Any], version: str
) -> Decision:
    """Decide a c/u/r/d event of a shared resource.

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
        return withhold_all(res.id, op, Reason.MALFORMED_EVENT, f"op {op} without {which}-image", version)
    key = _key(res, image)
    if key is None:
        detail = f"key field missing: {', '.join(res.primary_key)}"
        return withhold_all(res.id, op, Reason.MALFORMED_EVENT, detail, version)
    code = _region(res, table, image)
    if isinstance(code, Reason):
        detail = f"{res.region_field} = {image.get(res.region_field or '')!r}"
        return withhold_all(res.id, op, code, detail, version)
    sends = table.sends[op][code]
    held = table.withheld_all if code is None else table.withheld_by_district[code]
    dropped: tuple[str, ...] = ()
    if op != OP_DELETE:
        dropped = () if image.keys() <= res.known_fields else tuple(sorted(image.keys() - res.known_fields))
        if dropped:
            held += (Withheld(None, Reason.SCHEMA_DRIFT, f"dropped: {', '.join(dropped)}"),)
        if op == OP_UPDATE and res.region_field is not None:
            moved = _moved_out(res, table, event.get("before"), image, table.by_district[code or ""])
            if isinstance(moved, Withheld):
                held += (moved,)
            elif moved:
                sends += tuple(moved)
    if not sends and not held:
        held = (Withheld(None, Reason.NO_SUBSCRIBER, _NO_SUBSCRIBER),)
    return Decision(res.id, op, key, image, sends, held, dropped, version, res.masks)
