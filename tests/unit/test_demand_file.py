"""demands.yaml written from demand models reads back as the same demands (and the same catalog
version): the workflow's catalog versions and `catalog export` round-trip through the loader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sharebus.catalog.demand_file import render_demands, with_demands
from sharebus.catalog.load import parse_catalog, read_catalog_dir
from sharebus.catalog.models import Catalog, Contact
from sharebus.catalog.workflow import Actor, DemandRequest, approve, request, with_demand

CHONGQING = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def reparsed(catalog: Catalog) -> Catalog:
    texts = with_demands(read_catalog_dir(CHONGQING), catalog.demands)
    again, issues = parse_catalog(texts, folder="chongqing")
    assert not issues, [i.render() for i in issues]
    assert again is not None
    return again


def test_the_sample_demands_read_back_as_the_same_catalog(chongqing_catalog: Catalog) -> None:
    again = reparsed(chongqing_catalog)
    assert again.demands == chongqing_catalog.demands
    assert again.version == chongqing_catalog.version


def test_a_workflow_step_is_a_valid_catalog_version(chongqing_catalog: Catalog) -> None:
    ask = DemandRequest(
        subscriber="500106",
        resource="realestate.certificate",
        purpose="不动产登记核验：" + "用途说明" * 30,  # long enough to wrap in the file
        contact=Contact(name="王工", email="wang@example.gov.cn"),
        fields=("cert_no", "district_code"),
        valid_until=NOW + timedelta(days=90),
    )
    demand, _ = request(chongqing_catalog, Actor("500106"), ask, NOW)
    pending = with_demand(chongqing_catalog, demand)
    approved, _ = approve(pending, Actor("dsj", authority=True), demand.id, NOW, consent="登记中心")
    catalog = with_demand(pending, approved)
    again = reparsed(catalog)
    assert again.demands == catalog.demands and again.version == catalog.version


def test_an_empty_demand_list_is_a_file_of_its_own() -> None:
    text = render_demands([])
    assert text.rstrip().endswith("demands: []") and text.startswith("# Demand list")


def test_every_field_of_a_demand_has_its_place_in_the_file() -> None:
    from sharebus.catalog.demand_file import FIELD_ORDER
    from sharebus.catalog.models import Demand

    assert sorted(FIELD_ORDER) == sorted(Demand.model_fields)
