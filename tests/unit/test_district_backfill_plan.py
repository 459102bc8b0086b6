"""Backfill planning: what each policy change leaves a subscriber without, as one snapshot per
resource with the narrowest condition."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from sharebus.apps.district.backfill import _expected
from sharebus.apps.district.backfill_plan import Reach, job_for, plan, reach_of
from sharebus.catalog.load import load_catalog, parse_catalog, read_catalog_dir
from sharebus.catalog.models import Catalog
from streams.policy.compiled import Policy, compile_policy

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "catalog" / "chongqing"
KEY = b"test-pseudonym-key-32-bytes-long"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
CERT = "realestate.certificate"


def _policy(catalog: Catalog) -> Policy:
    return compile_policy(catalog, pseudonym_key=KEY)


def _edited(edit_demands: Any = None, edit_region: Any = None, edit_catalog: Any = None) -> Policy:
    texts = read_catalog_dir(FOLDER)
    changes: dict[str, str] = {}
    for name, edit in (("demands", edit_demands), ("region", edit_region), ("catalog", edit_catalog)):
        if edit is not None:
            data = yaml.safe_load(getattr(texts, name))
            edit(data)
            changes[name] = yaml.safe_dump(data, allow_unicode=True)
    catalog, issues = parse_catalog(dataclasses.replace(texts, **changes))
    assert catalog is not None, issues
    return _policy(catalog)


BASE = _policy(load_catalog(FOLDER))


def _demand(data: dict[str, Any], demand_id: str) -> dict[str, Any]:
    return next(d for d in data["demands"] if d["id"] == demand_id)


def test_nothing_is_planned_without_a_recorded_reach_or_without_a_change() -> None:
    reach = reach_of(BASE, NOW)
    assert plan(None, reach, BASE) == []
    assert plan(reach, reach, BASE) == []


def test_an_approved_demand_backfills_the_districts_rows_only() -> None:
    after = _edited(lambda d: _demand(d, "CQ-2025-0013").update(status="approved", approver="test"))
    [job] = plan(reach_of(BASE, NOW), reach_of(after, NOW), after)
    assert (job.resource, job.subscribers, job.codes) == (CERT, ("500106",), ("500106",))
    assert job.where == "district_code IN ('500106')" and "new entitlement" in job.reason
    assert job.catalog_version == after.version


def test_a_district_added_to_a_zone_backfills_that_districts_rows() -> None:
    def widen(region: dict[str, Any]) -> None:
        next(s for s in region["subscribers"] if s["id"] == "liangjiang")["districts"].append("500103")

    after = _edited(edit_region=widen)
    jobs = {j.resource: j for j in plan(reach_of(BASE, NOW), reach_of(after, NOW), after)}
    assert jobs[CERT].codes == ("500103",) and jobs[CERT].subscribers == ("liangjiang",)
    assert jobs[CERT].where == "district_code IN ('500103')" and "districts added" in jobs[CERT].reason


def test_fields_added_or_masks_lifted_backfill_every_row_of_the_subscriber() -> None:
    def grant(d: dict[str, Any]) -> None:
        _demand(d, "CQ-2025-0011")["clear"] = ["owner_name"]

    after = _edited(grant)
    [job] = plan(reach_of(BASE, NOW), reach_of(after, NOW), after)
    assert job.subscribers == ("500105",) and job.codes == ("500105",) and "masking changed" in job.reason

    def add_field(c: dict[str, Any]) -> None:
        res = next(r for r in c["resources"] if r["id"] == "market.enterprise")
        res["fields"].append({"name": "employees", "type": "integer", "grade": "public"})

    after = _edited(edit_catalog=add_field)
    [job] = plan(reach_of(BASE, NOW), reach_of(after, NOW), after)
    # Every district (all-districts demand) gets the field: one snapshot of the whole table.
    assert job.resource == "market.enterprise" and job.where is None and len(job.subscribers) == 38


def test_an_explicit_backfill_covers_the_subscribers_current_rows() -> None:
    job = job_for(BASE, "liangjiang", CERT, NOW)
    assert job is not None and job.where == "district_code IN ('500105', '500112')"
    assert job_for(BASE, "civil-affairs", "market.enterprise", NOW) is not None
    assert job_for(BASE, "civil-affairs", "market.enterprise", NOW).where is None  # type: ignore[union-attr]
    assert job_for(BASE, "500107", CERT, NOW) is None  # revoked


def test_reach_round_trips_and_expected_rows_count_per_subscriber() -> None:
    reach = reach_of(BASE, NOW)
    assert {t: Reach.from_dict(r.to_dict()) for t, r in reach.items()} == reach
    zone = reach[f"share.liangjiang.{CERT}"]
    assert _expected({"500105": 3, "500112": 2, "500101": 9}, zone) == 5
    assert _expected({None: 7}, Reach("x", "r", (), (), None)) == 7 and _expected({}, None) == 0
