"""Notices of demand transitions (pure): who hears of a step — the demand's subscriber (each
district for an all-districts demand) and the resource's owning department — and what they read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sharebus.catalog.models import ALL_DISTRICTS, Catalog, Demand
from sharebus.catalog.workflow import Transition


def recipients(catalog: Catalog, subscriber: str, resource: str) -> list[str]:
    """Who hears of a demand of `subscriber` for `resource`: the subscriber(s) and the department."""
    who = [d.code for d in catalog.districts] if subscriber == ALL_DISTRICTS else [subscriber]
    res = catalog.resource(resource)
    if res is not None and res.department not in who:
        who.append(res.department)
    return who


def step_notice(demand: Demand, transition: Transition, version: str) -> dict[str, Any]:
    """A workflow step (request, approve, reject, revoke) as its recipients read it."""
    return {
        "event": transition.step.value,
        "demand": demand.id,
        "subscriber": demand.subscriber,
        "resource": demand.resource,
        "from": transition.before.value if transition.before is not None else None,
        "to": transition.after.value,
        "by": transition.actor,
        "reason": transition.reason,
        "valid_until": demand.valid_until.isoformat() if demand.valid_until is not None else None,
        "catalog_version": version,
        "at": transition.at.isoformat(),
    }


def ended_notice(
    subscriber: str,
    resource: str,
    reason: str,
    demands: tuple[str, ...],
    tombstones: int,
    version: str,
    at: datetime,
) -> dict[str, Any]:
    """Access that ended (`reason`: expired, revoked, …) and the copy destroyed: `tombstones` keys."""
    return {
        "event": "destroy",
        "demand": demands[0] if demands else None,
        "demands": list(demands),
        "subscriber": subscriber,
        "resource": resource,
        "reason": reason,
        "tombstones": tombstones,
        "catalog_version": version,
        "at": at.isoformat(),
    }
