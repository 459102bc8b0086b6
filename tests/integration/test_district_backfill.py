"""Backfill through the real stack: a demand approved after the rows exist gives the district its
current rows (incremental snapshot with the district's condition), tracked in the backfill log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.render import CaptureSpec
from sharebus.apps.district.backfills import Backfiller
from sharebus.cli.district import district
from sharebus.core.settings import Settings
from streams.router.live_catalog import publish_catalog
from tests.integration.router_harness import RouterProcess, set_demands
from tests.integration.test_district_sync import certificates, insert, run_cli, settle, sync_once, wait_policy

pytestmark = pytest.mark.integration

D, OTHER = "500107", "500108"


def test_a_newly_approved_demand_backfills_the_districts_existing_rows(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    district_db: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = certificates(stack_settings, [D] * 10 + [OTHER] * 6)
    spec = source_db_factory("realestate", lambda conn: insert(conn, "certificate", rows))
    resource = f"{spec.department}.certificate"
    now = datetime.now(UTC)
    demand = {
        "id": "T-BF-1",
        "subscriber": D,
        "resource": resource,
        "purpose": "test",
        "status": "pending",
        "fields": ["cert_no", "area_m2", "use", "district_code", "registered_on"],
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
    }
    catalog = catalog_factory(realestate=spec)
    set_demands(catalog, [demand])
    router = router_factory(catalog)
    settings = router.settings

    recorded = Backfiller(settings, lambda _line: None)
    try:
        assert recorded.once().baseline_recorded  # the reach before the approval
    finally:
        recorded.close()
    time.sleep(2.0)  # the snapshot of the pending rows went by: nothing reached the district
    assert sync_once(settings, D, district_db["url"], [resource]).upserts == 0

    set_demands(catalog, [{**demand, "status": "approved", "approver": "test"}])
    wait_policy(router, publish_catalog(settings).version)
    t0 = time.monotonic()
    result = run_cli(district, router, ["backfill", "--grace", "1", "--json"], monkeypatch)
    took = time.monotonic() - t0
    assert result.exit_code == 0, result.stderr
    outcome = json.loads(result.stdout)
    [job] = outcome["jobs"]
    print(f"backfill of {D}: {took:.1f}s from command to delivered")
    assert job["state"] == "done" and job["subscribers"] == [D]
    assert job["where"] == f"district_code IN ('{D}')"
    assert job["expected"] == {D: 10} and job["delivered"] == {D: 10} and job["rows_scanned"] == 10

    reports = settle(settings, [D], district_db["url"], resources=[resource])
    assert reports[D].resources[0].district == 10
    listed = run_cli(district, router, ["backfills", "--json"], monkeypatch)
    assert any(j["id"] == job["id"] and j["state"] == "done" for j in json.loads(listed.stdout)["jobs"])
    again = run_cli(district, router, ["backfill", "--json"], monkeypatch)  # nothing changed since
    assert again.exit_code == 0 and json.loads(again.stdout)["jobs"] == []
