"""Message keys at onboarding: the catalog's primary_key keys a table's messages (Debezium
message.key.columns when it is not the table's own key), and a key that is sensitive — graded so,
a resident ID, masked or excluded at the source, or named or described as a personal identifier —
is refused, as is a declared key the table lacks or may leave NULL."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.message_keys import plan_keys
from connectors.source import Column
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, Grade, Resource

CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
TABLE = "public.enterprise"  # market.enterprise in the sample catalog: primary_key [uscc]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CITY)


def enterprise(catalog: Catalog) -> Resource:
    res = catalog.resource("market.enterprise")
    assert res is not None
    return res


def col(name: str, *, pk: bool = False, nullable: bool = False, comment: str = "") -> Column:
    return Column(name, "varchar", nullable, pk, comment)


def one(department: str, cols: tuple[Column, ...], catalog: Catalog | None, *flagged: str) -> tuple[str, str]:
    plan = plan_keys(department, {TABLE: cols}, catalog, flagged)
    (check,) = plan.checks
    assert check.name == f"message key of {TABLE}"
    return check.status, check.found + " | " + (check.fix or "")


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (col("id_number", pk=True), "named like a personal identifier"),
        (col("sfzh", pk=True), "named like a personal identifier"),
        (col("pid", pk=True, comment="公民身份号码"), "described as a personal identifier"),
        (col("contact", pk=True, comment="手机号码"), "described as a personal identifier"),
    ],
)
def test_a_table_keyed_by_a_personal_identifier_is_refused(key: Column, why: str) -> None:
    status, text = one("newdept", (key, col("name")), None)
    assert status == "fail" and why in text and "primary_key of non-sensitive columns" in text


def test_a_key_masked_or_excluded_at_the_source_is_refused() -> None:
    status, text = one("newdept", (col("code", pk=True), col("name")), None, f"{TABLE}.code")
    assert status == "fail" and "masked or excluded at the source" in text


def test_a_plain_primary_key_keys_the_messages_as_it_is() -> None:
    plan = plan_keys("newdept", {TABLE: (col("record_no", pk=True), col("name"))}, None)
    assert [c.status for c in plan.checks] == ["ok"] and plan.key_columns == ()


def test_the_catalog_s_key_equal_to_the_table_s_needs_nothing_more(catalog: Catalog) -> None:
    plan = plan_keys("market", {TABLE: (col("uscc", pk=True), col("name"))}, catalog)
    assert [c.status for c in plan.checks] == ["ok"] and plan.key_columns == ()


def test_a_table_keyed_by_a_resident_id_is_keyed_by_the_catalog_s_key_instead(catalog: Catalog) -> None:
    cols = (col("legal_rep_id", pk=True, comment="身份证号码"), col("uscc"), col("name"))
    plan = plan_keys("market", {TABLE: cols}, catalog)
    assert [c.status for c in plan.checks] == ["ok"]
    assert plan.key_columns == ((TABLE, ("uscc",)),)
    assert "the table's is legal_rep_id" in plan.checks[0].found


def test_a_declared_key_the_table_lacks_or_may_leave_null_is_refused(catalog: Catalog) -> None:
    status, text = one("market", (col("id", pk=True), col("name")), catalog)
    assert status == "fail" and "names uscc, not a column of the table" in text
    status, text = one("market", (col("id", pk=True), col("uscc", nullable=True)), catalog)
    assert status == "fail" and "may be NULL in uscc" in text


def test_a_declared_key_graded_sensitive_is_refused_even_past_validation(catalog: Catalog) -> None:
    res = enterprise(catalog)
    uscc = res.field("uscc")
    assert uscc is not None
    graded = uscc.model_copy(update={"grade": Grade.SENSITIVE})
    changed = res.model_copy(update={"fields": tuple(graded if f.name == "uscc" else f for f in res.fields)})
    other = catalog.model_copy(
        update={"resources": tuple(changed if r.id == res.id else r for r in catalog.resources)}
    )
    status, text = one("market", (col("uscc", pk=True), col("name")), other)
    assert status == "fail" and "graded sensitive in the catalog" in text


def test_draft_entries_do_not_decide_the_key(catalog: Catalog) -> None:
    res = enterprise(catalog)
    draft = res.model_copy(update={"legal_basis": "DRAFT: 草稿", "primary_key": ("name",)})
    drafted = catalog.model_copy(
        update={"resources": tuple(draft if r.id == res.id else r for r in catalog.resources)}
    )
    plan = plan_keys("market", {TABLE: (col("uscc", pk=True), col("name"))}, drafted)
    assert [c.status for c in plan.checks] == ["ok"] and plan.key_columns == ()
