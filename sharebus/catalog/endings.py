"""How a subscriber's access to a resource ends, as pure functions over a catalog: the next
validity boundary (when access changes by the clock alone) and why a subscriber lost a resource."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sharebus.catalog.models import ALL_DISTRICTS, Catalog
from sharebus.catalog.workflow import DemandState, state_at

# Why access ended, most telling first: a demand's own end beats a missing demand.
ENDED_BY = (DemandState.EXPIRED, DemandState.REVOKED, DemandState.REJECTED)
NOT_SHARED = "not_shared"  # the resource is in the catalog but no demand in force carries it
REMOVED = "removed"  # the resource (or the subscriber) left the catalog


@dataclass(frozen=True, slots=True)
class Ending:
    """Why `subscriber` no longer receives `resource`: `reason` is a demand state (expired,
    revoked, rejected) or NOT_SHARED / REMOVED; `demands` the ids of the demands in that state."""

    reason: str
    demands: tuple[str, ...] = ()


def next_boundary(catalog: Catalog, now: datetime) -> datetime | None:
    """The first demand validity boundary after `now` (a `valid_from` or `valid_until`)."""
    later = [
        at for d in catalog.demands for at in (d.valid_from, d.valid_until) if at is not None and at > now
    ]
    return min(later, default=None)


def states_at(catalog: Catalog, now: datetime) -> dict[str, DemandState]:
    """demand id → its state at `now`."""
    return {d.id: state_at(d, now) for d in catalog.demands}


def ending(
    catalog: Catalog,
    subscriber: str,
    resource: str,
    now: datetime,
    before: Mapping[str, DemandState] | None = None,
) -> Ending:
    """Why `subscriber` does not receive `resource` at `now`, from the demands that name both;
    with the demands' states `before` (the last look), the ones that just ended tell first (a
    demand revoked now, not an older one that expired)."""
    districts = {d.code for d in catalog.districts}
    names = {subscriber, ALL_DISTRICTS} if subscriber in districts else {subscriber}
    ended: dict[DemandState, list[str]] = {}
    fresh: dict[DemandState, list[str]] = {}
    for demand in catalog.demands:
        if demand.resource == resource and demand.subscriber in names:
            state = state_at(demand, now)
            ended.setdefault(state, []).append(demand.id)
            if before is not None and before.get(demand.id) != state:
                fresh.setdefault(state, []).append(demand.id)
    for states in (fresh, ended):
        for state in ENDED_BY:
            if state in states:
                return Ending(state.value, tuple(sorted(states[state])))
    if subscriber not in catalog.subscriber_ids() or catalog.resource(resource) is None:
        return Ending(REMOVED)
    return Ending(NOT_SHARED)
