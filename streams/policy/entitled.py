"""The subscriber topics entitled at a time, read straight from the catalog (no compile): what
`acl sync` grants, by the rule and the topic names the compiled policy routes by."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from sharebus.catalog.models import ALL_DISTRICTS, Catalog, Demand, Resource, Sharing
from sharebus.core import naming
from streams.policy.compiled import subscriber_rows
from streams.policy.tables import demand_withheld, reaches

Window = tuple[datetime, datetime | None]
"""[valid_from, valid_until) of a demand in force (None: open-ended)."""


def _delivering(catalog: Catalog) -> Iterator[tuple[str, Resource, Demand]]:
    """(subscriber, resource, demand) of every demand of a shared resource, for each subscriber
    it reaches (`all-districts` expanded, the row-filter rule applied); time and status unjudged."""
    rows = subscriber_rows(catalog)
    districts = tuple(d.code for d in catalog.districts)
    demands: dict[str, list[Demand]] = defaultdict(list)
    for demand in catalog.demands:
        demands[demand.resource].append(demand)
    for res in catalog.resources:
        if res.sharing is Sharing.NOT_SHARED:
            continue
        regional = res.region_field is not None
        for demand in demands.get(res.id, ()):
            for subscriber in districts if demand.subscriber == ALL_DISTRICTS else (demand.subscriber,):
                if reaches(regional, rows[subscriber], districts):
                    yield subscriber, res, demand


def entitled_topics(catalog: Catalog, now: datetime) -> dict[str, set[str]]:
    """subscriber → the topics it is entitled to read at `now`: those of the departments of the
    resources it has a demand in force for (`Policy.entitlements(now)`'s topics, ~10× faster at
    the city's size: no projections, targets or masks are built). A regional resource reaches
    a subscriber whose row filter names no district of the city nobody, as when routing."""
    out: dict[str, set[str]] = {}
    for subscriber, res, demand in _delivering(catalog):
        if demand_withheld(demand, res.sharing, now) is None:
            out.setdefault(subscriber, set()).add(naming.share_topic(subscriber, res.department))
    return out


def entitlement_windows(catalog: Catalog) -> dict[str, dict[Resource, list[Window]]]:
    """subscriber → resource → the windows in which a demand delivers it: `entitled_topics`'s
    rule with the time left open, so a holder judges any `now` without the catalog (the schema
    registry's read access)."""
    out: dict[str, dict[Resource, list[Window]]] = {}
    for subscriber, res, demand in _delivering(catalog):
        # At its own start a demand is withheld only for its status (or an empty window).
        if demand_withheld(demand, res.sharing, demand.valid_from) is None:
            windows = out.setdefault(subscriber, {}).setdefault(res, [])
            windows.append((demand.valid_from, demand.valid_until))
    return out


def in_window(windows: Iterable[Window], now: datetime) -> bool:
    """Whether `now` falls in one of `windows`."""
    return any(start <= now and (until is None or now < until) for start, until in windows)
