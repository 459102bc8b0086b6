"""What `Policy.route` returns: deliveries, decisions to withhold, and dropped columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from streams.policy.reasons import Reason


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
