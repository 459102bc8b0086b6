"""What `Policy.route` returns: deliveries, decisions to withhold, and dropped columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from streams.policy.reasons import Reason

if TYPE_CHECKING:
    from streams.policy.masks import MaskFn
    from streams.policy.target import Target


class Delivery(NamedTuple):
    """One record for one subscriber topic. `value` None is a tombstone (op "d").

    `key` is shared by every delivery of the same record: treat it as read-only.
    """

    subscriber: str
    resource: str
    topic: str
    key: Mapping[str, Any]
    value: dict[str, Any] | None
    op: str
    reason: Reason
    demand_id: str


class Withheld(NamedTuple):
    """A decision not to deliver: to one subscriber, or the whole record (subscriber None)."""

    subscriber: str | None
    reason: Reason
    detail: str
    demand_id: str | None = None


class RouteResult(NamedTuple):
    """The policy's decision for one change event, under catalog `policy_version`.

    `resource` is None when the event's source is no resource of the catalog; `dropped_fields`
    names columns of the event that the catalog does not know (dropped, never delivered).
    """

    resource: str | None
    op: str | None
    deliveries: tuple[Delivery, ...]
    withheld: tuple[Withheld, ...]
    dropped_fields: tuple[str, ...]
    policy_version: str


class Send(NamedTuple):
    """A decision to send one record to one target: its projection of the row image, or a
    tombstone (for a delete, or for the old district of a row that moved)."""

    target: Target
    op: str
    reason: Reason
    tombstone: bool


class Decision(NamedTuple):
    """Who receives a change event and how, before any value is built: `Policy.route` projects
    it into deliveries (dicts), the router encodes it straight from `image` (bytes).

    `image` is the row the sends read (the after-image; the before-image of a delete), None when
    nothing is sent; `masks` are the resource's mask functions, applied to `image` for targets
    that receive masked values.
    """

    resource: str | None
    op: str | None
    key: Mapping[str, Any] | None
    image: Mapping[str, Any] | None
    sends: tuple[Send, ...]
    withheld: tuple[Withheld, ...]
    dropped_fields: tuple[str, ...]
    policy_version: str
    masks: tuple[tuple[str, MaskFn], ...] = ()


def withhold_all(resource: str | None, op: str | None, reason: Reason, detail: str, version: str) -> Decision:
    """A decision to send nothing: the whole record is withheld for `reason`."""
    return Decision(resource, op, None, None, (), (Withheld(None, reason, detail),), (), version)


def masked_values(masks: tuple[tuple[str, MaskFn], ...], row: Mapping[str, Any]) -> dict[str, Any]:
    """The masked value of each maskable field of `row` (what masked targets receive)."""
    return {name: fn(row.get(name)) for name, fn in masks}


def project(decision: Decision) -> RouteResult:
    """The deliveries of a decision: each target's projection of the image (masked where the
    target is), or a tombstone; in the decision's order."""
    image, key, rid = decision.image or {}, decision.key or {}, decision.resource or ""
    masked: dict[str, Any] | None = None
    deliveries: list[Delivery] = []
    for t, op, reason, tombstone in decision.sends:
        value: dict[str, Any] | None
        if tombstone:
            value = None
        elif t.masked:
            if masked is None:
                masked = {**image, **masked_values(decision.masks, image)}
            value = {f: masked.get(f) for f in t.fields}
            for f in t.clear:
                value[f] = image.get(f)
        else:
            value = {f: image.get(f) for f in t.fields}
        deliveries.append(Delivery(t.subscriber, rid, t.topic, key, value, op, reason, t.demand_id))
    return RouteResult(
        decision.resource,
        decision.op,
        tuple(deliveries),
        decision.withheld,
        decision.dropped_fields,
        decision.policy_version,
    )
