"""Reconcile's expected side: source rows routed through the sample catalog's own policy, and the
comparison with what a district holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sharebus.apps.district.normalize import key_of, row_values
from sharebus.apps.district.projection import Expected, layout_of, project, region_codes
from sharebus.apps.district.reconcile import ResourceReport, compare
from sharebus.apps.district.source_rows import debezium_value
from sharebus.catalog.load import load_catalog
from sharebus.dev.samples.rows import RowFactory
from sharebus.dev.samples.upflow import HouseholdRows, UpflowSample
from streams.policy.compiled import compile_policy
from streams.quality import compile_checks

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(REPO / "catalog" / "chongqing")
POLICY = compile_policy(CATALOG, pseudonym_key=b"test-pseudonym-key-32-bytes-long")
CHECKS = compile_checks(CATALOG)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
FACTORY = RowFactory(CATALOG.districts, city="chongqing", seed=7)  # type: ignore[arg-type]


def _source(row: dict[str, Any], resource: str) -> dict[str, Any]:
    res = CATALOG.resource(resource)
    assert res is not None
    types = {f.name: f.type for f in res.fields}
    return {k: debezium_value(types.get(k), v) for k, v in row.items()}


def _enterprise(code: str) -> dict[str, Any]:
    row = FACTORY.enterprise()
    row["district_code"] = code
    return _source(row, "market.enterprise")


def _ent(subscriber: str, resource: str) -> Any:
    return next(e for e in POLICY.entitlements(NOW) if e.subscriber == subscriber and e.resource == resource)


def test_a_district_is_expected_to_hold_its_own_rows_masked_and_nothing_else() -> None:
    res = CATALOG.resource("market.enterprise")
    assert res is not None
    layout = layout_of("chongqing", res, _ent("500101", res.id))
    mine, theirs = _enterprise("500101"), _enterprise("500102")
    bad = _enterprise("500101") | {"uscc": "91500101MA00000000"}  # wrong check character
    got = project(POLICY, CHECKS, res, "500101", layout, [mine, theirs, bad], NOW)
    assert got.scanned == 3 and got.dead_letters == 1 and len(got.rows) == 1
    values = dict(zip(layout.fields, next(iter(got.rows.values())), strict=True))
    assert values["uscc"] == mine["uscc"] and "*" in values["legal_rep_id"]
    assert values["established_on"] == mine["established_on"]  # days, as the district's date normalises


def test_the_region_codes_read_are_the_policys_for_the_subscriber() -> None:
    assert region_codes(POLICY, "market.enterprise", "500101", NOW) == ["500101"]
    assert region_codes(POLICY, "realestate.certificate", "liangjiang", NOW) == ["500105", "500112"]
    assert region_codes(POLICY, "realestate.certificate", "500107", NOW) == []  # revoked
    assert len(region_codes(POLICY, "market.enterprise", "civil-affairs", NOW) or []) == len(
        CATALOG.districts
    )


def test_compare_counts_missing_extra_and_differing_rows_by_key() -> None:
    res = CATALOG.resource("market.enterprise")
    assert res is not None
    layout = layout_of("chongqing", res, _ent("500101", res.id))
    rows = [_enterprise("500101") for _ in range(3)]
    expected = project(POLICY, CHECKS, res, "500101", layout, rows, NOW)
    actual = dict(expected.rows)
    keys = list(actual)
    del actual[keys[0]]
    changed = dict(zip(layout.fields, actual[keys[1]], strict=True)) | {"name": "other"}
    actual[keys[1]] = row_values(layout.kinds, layout.fields, changed)
    extra = dict(changed) | {"uscc": "EXTRA"}
    actual[key_of(layout.kinds, layout.keys, extra)] = row_values(layout.kinds, layout.fields, extra)
    report = ResourceReport(res.id, "t", None)
    compare(report, layout, expected, actual, samples=10)
    assert (report.expected, report.district) == (3, 3)
    assert (report.missing, report.extra, report.differing, report.differences) == (1, 1, 1, 3)
    assert {"kind": "differing", "key": {"uscc": rows[1]["uscc"]}, "fields": ["name"]} in report.samples
    assert {"kind": "extra", "key": {"uscc": "EXTRA"}} in report.samples


def test_without_an_entitlement_whatever_the_district_holds_is_extra() -> None:
    res = CATALOG.resource("realestate.certificate")
    assert res is not None
    layout = layout_of("chongqing", res, None)
    assert layout.fields == ("cert_no",)
    report = ResourceReport(res.id, "t", None)
    compare(report, layout, Expected(), {key_of(layout.kinds, layout.keys, {"cert_no": "x"}): ("x",)}, 5)
    assert report.extra == 1 and report.differences == 1


def test_the_up_flow_sample_reaches_the_city_department_in_clear_and_no_district() -> None:
    sample = UpflowSample.for_catalog(CATALOG)
    assert (sample.department, sample.district_code) == ("district_500103", "500103")
    res = CATALOG.resource("district_500103.assistance_household")
    assert res is not None
    rows = [_source(r, res.id) for r in (HouseholdRows(FACTORY, "500103").row(NOW) for _ in range(5))]
    layout = layout_of("chongqing", res, _ent("civil-affairs", res.id))
    got = project(POLICY, CHECKS, res, "civil-affairs", layout, rows, NOW)
    assert got.dead_letters == 0 and len(got.rows) == 5
    first = dict(zip(layout.fields, got.rows[key_of(layout.kinds, layout.keys, rows[0])], strict=True))
    assert first["head_id"] == rows[0]["head_id"]  # granted in clear
    assert not [
        e for e in POLICY.entitlements(NOW) if e.resource == res.id and e.subscriber != "civil-affairs"
    ]
