"""Draft catalog entries from database columns: valid YAML the catalog accepts, safe defaults,
responsibility entries, and no source exclusion decided by a draft."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.draft_catalog import Contact, field_type, load_city_catalog, plan_drafts, secret_columns
from connectors.source import Column
from sharebus.core.errors import ConfigError

CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
COLUMNS = {
    "hr.person": (
        Column("person_id", "char", False, True, "公民身份号码"),
        Column("name", "varchar", False, False, "姓名"),
        Column("district_code", "char", False, False),
        Column("insured_since", "date", True, False),
        Column("updated_at", "timestamp", False, False),
    )
}


@pytest.fixture
def city(tmp_path: Path) -> Path:
    target = tmp_path / "chongqing"
    shutil.copytree(CITY, target)
    return target


def test_field_types_follow_debezium_json() -> None:
    assert field_type("postgres", "timestamp with time zone") == "timestamp"
    assert field_type("postgres", "numeric") == "decimal"
    assert field_type("postgres", "bigint") == "integer"
    assert field_type("postgres", "character varying") == "string"
    assert field_type("mariadb", "datetime") == "integer"
    assert field_type("mariadb", "timestamp") == "timestamp"
    assert field_type("mariadb", "decimal") == "decimal"


def test_drafts_validate_and_default_to_nothing_delivered(city: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    plan = plan_drafts(
        city, "mariadb", "hrtest", "人社局", COLUMNS, Contact("张三", "hr@example.gov.cn"), now=now
    )
    assert plan.drafted == ("hrtest.person",) and plan.department_added
    plan.write()
    catalog = load_city_catalog(city)
    resource = next(r for r in catalog.resources if r.id == "hrtest.person")
    assert resource.sharing.value == "not_shared" and (resource.legal_basis or "").startswith("DRAFT")
    grades = {f.name: f.grade.value for f in resource.fields}
    assert grades == {
        "person_id": "internal",
        "name": "secret",
        "district_code": "public",
        "insured_since": "secret",
        "updated_at": "secret",
    }
    assert resource.region_field == "district_code" and resource.primary_key == ("person_id",)
    assert any(d.id == "hrtest" for d in catalog.departments)
    assert any(r.resource == "hrtest.person" for r in catalog.responsibilities)
    # Drafts decide nothing at the source yet.
    assert secret_columns(catalog, "hrtest", ("hr.person",)) == ()
    # A second run finds the entry and changes nothing.
    again = plan_drafts(city, "mariadb", "hrtest", "人社局", COLUMNS, Contact("张三", "hr@example.gov.cn"))
    assert not again.changes and again.existing == ("hrtest.person",)


def test_the_responsibility_list_needs_a_contact(city: Path) -> None:
    with pytest.raises(ConfigError, match="--contact"):
        plan_drafts(city, "mariadb", "hrtest", "人社局", COLUMNS, Contact("张三", None))


def test_completed_secret_fields_are_excluded_at_the_source() -> None:
    catalog = load_city_catalog(CITY)
    assert secret_columns(catalog, "market", ("public.inspection",)) == ("public.inspection.finding",)
    assert secret_columns(catalog, "market", ("public.enterprise",)) == ()
