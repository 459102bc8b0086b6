"""The subscriber topics entitled at a time, read straight from the catalog (no compile): what
`acl sync` grants, by the rule and the topic names the compiled policy routes by."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sharebus.catalog.models import ALL_DISTRICTS, Catalog, Demand, Sharing
from sharebus.core import naming
from streams.policy.compiled import subscriber_rows
from streams.policy.tables import demand_withheld, reaches


def entitled_topics(catalog: Catalog, now: datetime) -> dict[str, set[str]]:
    """subscriber → the topics it is entitled to read at `now`: those of the departments of the
    resources it has a demand in force for (`Policy.entitlements(now)`'s topics, ~10× faster at
    the city's size: no projections, targets or masks are built). A regional resource reaches
    a subscriber whose row filter names no district of the city nobody, as when routing."""
    rows = subscriber_rows(catalog)
    districts = tuple(d.code for d in catalog.districts)
    demands: dict[str, list[Demand]] = defaultdict(list)
    for demand in catalog.demands:
        demands[demand.resource].append(demand)
    out: dict[str, set[str]] = {}
    for res in catalog.resources:
        if res.sharing is Sharing.NOT_SHARED:
            continue
        regional = res.region_field is not None
        for demand in demands.get(res.id, ()):
            if demand_withheld(demand, res.sharing, now) is not None:
                continue
            for subscriber in districts if demand.subscriber == ALL_DISTRICTS else (demand.subscriber,):
                if reaches(regional, rows[subscriber], districts):
                    out.setdefault(subscriber, set()).add(naming.share_topic(subscriber, res.department))
    return out
