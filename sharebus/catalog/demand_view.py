"""Demands as the CLI and the worker's web API show them (pure): each entry with its state now,
and the filters of `demand list` (subscriber, state, expiring within)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sharebus.catalog.demand_file import demand_entry
from sharebus.catalog.models import Demand
from sharebus.catalog.workflow import DemandState, state_at


def demand_row(demand: Demand, now: datetime) -> dict[str, Any]:
    """The demand's demands.yaml entry (times as ISO 8601) with its `state` at `now`."""
    entry = demand_entry(demand)
    for key in ("valid_from", "valid_until"):
        if key in entry:
            entry[key] = entry[key].isoformat()
    return {**entry, "state": state_at(demand, now).value}


def select(
    demands: Iterable[Demand],
    now: datetime,
    *,
    subscriber: str | None = None,
    state: DemandState | None = None,
    expiring: timedelta | None = None,
) -> list[Demand]:
    """The demands of `subscriber`, in `state` now, or approved and ending within `expiring`."""
    chosen = []
    for d in demands:
        current = state_at(d, now)
        if subscriber is not None and d.subscriber != subscriber:
            continue
        if state is not None and current is not state:
            continue
        if expiring is not None and not (
            current is DemandState.APPROVED and d.valid_until is not None and d.valid_until <= now + expiring
        ):
            continue
        chosen.append(d)
    return chosen


EXPIRING_WITHIN = timedelta(days=30)
SUMMARY_ROWS = 20


def demand_summary(demands: Iterable[Demand], now: datetime) -> dict[str, Any]:
    """The dashboard's demands panel: pending ones (oldest first) and approved ones ending within
    30 days (soonest first), counted, each list cut at SUMMARY_ROWS."""
    demands = list(demands)
    pending = sorted(select(demands, now, state=DemandState.PENDING), key=lambda d: d.valid_from)
    expiring = sorted(select(demands, now, expiring=EXPIRING_WITHIN), key=lambda d: d.valid_until or now)
    return {
        "pending": len(pending),
        "expiring_30d": len(expiring),
        "pending_demands": [demand_row(d, now) for d in pending[:SUMMARY_ROWS]],
        "expiring_demands": [demand_row(d, now) for d in expiring[:SUMMARY_ROWS]],
    }
