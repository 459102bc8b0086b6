"""Demands as shown: the list's filters and the dashboard's panel (pending, expiring in 30 days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sharebus.catalog.demand_view import demand_summary, select
from sharebus.catalog.models import Catalog, DemandStatus
from sharebus.catalog.workflow import DemandState

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_the_panel_counts_pending_and_soon_ending_demands(chongqing_catalog: Catalog) -> None:
    soon = chongqing_catalog.demands[0].model_copy(
        update={"id": "SOON", "status": DemandStatus.APPROVED, "valid_until": NOW + timedelta(days=3)}
    )
    later = soon.model_copy(update={"id": "LATER", "valid_until": NOW + timedelta(days=31)})
    demands = [*chongqing_catalog.demands, soon, later]
    panel = demand_summary(demands, NOW)
    pending = [d.id for d in select(demands, NOW, state=DemandState.PENDING)]
    assert panel["pending"] == len(pending) == 2 and [d["id"] for d in panel["pending_demands"]] == pending
    ending = select(demands, NOW, expiring=timedelta(days=30))
    assert "SOON" in [d.id for d in ending] and "LATER" not in [d.id for d in ending]
    assert panel["expiring_30d"] == len(ending) and panel["expiring_demands"][0]["state"] == "approved"
