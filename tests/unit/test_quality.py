"""On-bus data-quality checks: envelope, key, required, type, code, value and region checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, CodeKind, FieldType
from sharebus.core.gbcodes import resident_id_check_char
from sharebus.testing import builders
from sharebus.testing.builders import debezium_event, sample_enterprise
from streams.quality import (
    TYPE_CHECKS,
    Check,
    FieldRule,
    QualityChecks,
    check_field,
    check_row,
    compile_checks,
)

REPO = Path(__file__).resolve().parents[2]
USCC, RID = builders.USCC, builders.RESIDENT_ID
BAD_RID = RID[:17] + ("0" if RID[17] != "0" else "1")
BAD_USCC = USCC[:17] + ("0" if USCC[17] != "0" else "1")
RID_X = next(
    body + "X"
    for body in (f"5001031980010{n:04d}" for n in range(10000))
    if resident_id_check_char(body) == "X"
)


@pytest.fixture(scope="module")
def checks(chongqing_catalog: Catalog) -> QualityChecks:
    return compile_checks(chongqing_catalog)


enterprise = sample_enterprise


def event(op: str | None, before: Any = None, after: Any = None, table: str = "enterprise") -> dict[str, Any]:
    return debezium_event(op, before, after, table=table)


ROW_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str | None]]]] = [
    ("valid", enterprise(), set()),
    ("lower-case x check character", enterprise(legal_rep_id=RID_X.lower()), set()),
    ("optional field null", enterprise(phone=None, address=None, reg_capital=None), set()),
    ("unknown column is not a quality failure", enterprise(extra=1), set()),
    ("USCI check character", enterprise(uscc=BAD_USCC), {("code", "uscc")}),
    ("USCI wrong length", enterprise(uscc=USCC[:17]), {("code", "uscc")}),
    ("resident ID check digit", enterprise(legal_rep_id=BAD_RID), {("code", "legal_rep_id")}),
    ("key field null", enterprise(uscc=None), {("key", "uscc")}),
    ("required field absent", enterprise(name=...), {("required", "name")}),
    ("region code of no district", enterprise(district_code="500199"), {("region", "district_code")}),
    ("region code of another city", enterprise(district_code="430202"), {("region", "district_code")}),
    ("city code is not a district", enterprise(district_code="500000"), {("region", "district_code")}),
    ("region code as a number", enterprise(district_code=500103), {("type", "district_code")}),
    ("decimal as a number", enterprise(reg_capital=1000), {("type", "reg_capital")}),
    ("decimal in exponent form", enterprise(reg_capital="1E+3"), {("type", "reg_capital")}),
    ("value outside the allowed list", enterprise(status="closed"), {("value", "status")}),
    ("date as a string", enterprise(established_on="2020-01-01"), {("type", "established_on")}),
    ("date as a boolean", enterprise(established_on=True), {("type", "established_on")}),
    ("timestamp without zone", enterprise(created_at="2025-01-01T00:00:00"), {("type", "created_at")}),
    ("timestamp as epoch", enterprise(created_at=1735689600000), {("type", "created_at")}),
    (
        "several failures, all reported",
        enterprise(uscc=BAD_USCC, status="x", name=None),
        {("code", "uscc"), ("value", "status"), ("required", "name")},
    ),
]


@pytest.mark.parametrize(("name", "after", "expected"), ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_checks(checks: QualityChecks, name: str, after: dict[str, Any], expected: set[Any]) -> None:
    verdict = checks.check_event(event("c", after=after))
    assert {(f.check.value, f.field) for f in verdict.failures} == expected
    assert verdict.ok is (not expected)
    assert verdict.resource == "market.enterprise"


ENVELOPE_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str | None]]]] = [
    ("snapshot read", event("r", after=enterprise()), set()),
    ("update", event("u", before=enterprise(), after=enterprise(status="revoked")), set()),
    ("op missing", event(None, after=enterprise()), {("envelope", None)}),
    ("unknown op", event("z", after=enterprise()), {("envelope", None)}),
    ("create without after", event("c"), {("envelope", None)}),
    ("delete without before", event("d"), {("envelope", None)}),
    (
        "delete: only key and region checked",
        event("d", before={"uscc": USCC, "district_code": "500103", "status": "??"}),
        set(),
    ),
    (
        "delete: bad region",
        event("d", before={"uscc": USCC, "district_code": "1"}),
        {("region", "district_code")},
    ),
    ("delete: key missing", event("d", before={"district_code": "500103"}), {("key", "uscc")}),
    ("truncate is not checked", event("t"), set()),
]


@pytest.mark.parametrize(("name", "ev", "expected"), ENVELOPE_CASES, ids=[c[0] for c in ENVELOPE_CASES])
def test_envelope_checks(checks: QualityChecks, name: str, ev: dict[str, Any], expected: set[Any]) -> None:
    verdict = checks.check_event(ev)
    assert {(f.check.value, f.field) for f in verdict.failures} == expected


def test_unknown_source_is_not_checked(checks: QualityChecks) -> None:
    verdict = checks.check_event(event("c", after={"id": 1}, table="heartbeat"))
    assert verdict.resource is None and verdict.ok


def test_verdict_attribution_and_reason(checks: QualityChecks) -> None:
    verdict = checks.check_event(event("c", after=enterprise(legal_rep_id=BAD_RID, status="x")))
    assert verdict.department == "market"
    assert verdict.responsible_unit == "重庆市市场监督管理局 登记注册处"
    assert "code(legal_rep_id)" in verdict.reason and "value(status)" in verdict.reason
    assert BAD_RID not in verdict.reason, "sensitive values stay out of dead-letter headers"
    assert "'x'" in verdict.reason, "public values are shown"


def _rule(code: CodeKind | None = None, **kw: Any) -> FieldRule:
    base: dict[str, Any] = {"name": "f", "type": FieldType.STRING, "type_ok": TYPE_CHECKS[FieldType.STRING]}
    base |= {"required": False, "key": False, "code": code, "values": None, "region": False}
    base |= {"show_value": True}
    return FieldRule(**(base | kw))


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (_rule(CodeKind.REGION), "500000", None),  # the city's own code is a region code
        (_rule(CodeKind.REGION), "500103", None),
        (_rule(CodeKind.REGION), "110101", Check.CODE),
        (_rule(CodeKind.USCI), USCC, None),
        (_rule(CodeKind.RESIDENT_ID), RID, None),
        (_rule(values=frozenset({"a"})), "a", None),
        (_rule(values=frozenset({"a"})), "b", Check.VALUE),
        (_rule(type=FieldType.FLOAT, type_ok=TYPE_CHECKS[FieldType.FLOAT]), 1.5, None),
        (_rule(type=FieldType.FLOAT, type_ok=TYPE_CHECKS[FieldType.FLOAT]), "1.5", Check.TYPE),
        (_rule(type=FieldType.BOOLEAN, type_ok=TYPE_CHECKS[FieldType.BOOLEAN]), 0, Check.TYPE),
        (_rule(type=FieldType.INTEGER, type_ok=TYPE_CHECKS[FieldType.INTEGER]), 2**40, None),
        (_rule(required=True), None, Check.REQUIRED),
        (_rule(key=True), None, Check.KEY),
        (_rule(), None, None),
    ],
)
def test_check_field(checks: QualityChecks, rule: FieldRule, value: Any, expected: Check | None) -> None:
    failure = check_field(rule, value, checks.resources["market.enterprise"])
    assert (failure.check if failure else None) == expected


def test_every_check_is_exercised() -> None:
    seen = {c for *_, exp in ROW_CASES + ENVELOPE_CASES for c, _ in exp}
    assert seen == {c.value for c in Check} - {Check.REFERENCE}  # test_quality_consistency


_CANDIDATES: list[Any] = [
    None,
    "",
    "x",
    "active",
    "other",
    "500103",
    "500000",
    "430202",
    "430200",
    "999999",
    USCC,
    BAD_USCC,
    RID,
    BAD_RID,
    RID_X,
    "12.50",
    "12.",
    "2024-03-01T08:15:30Z",
    "2024-03-01 08:15:30",
    0,
    42,
    -1,
    1.5,
    True,
    False,
    ["x"],
]


@pytest.mark.parametrize("city", ["chongqing", "zhuzhou"])
def test_generated_passes_agrees_with_check_row(city: str) -> None:
    """The generated fast path says a row passes exactly when `check_row` finds nothing: every
    field of every resource, each candidate value in turn, in after- and before-images."""
    compiled = compile_checks(load_catalog(REPO / "catalog" / city))
    compared = 0
    for checks in compiled.resources.values():
        # A passing base row: per field, the first candidate its rule accepts.
        candidates = {r.name: [*sorted(r.values or ()), *_CANDIDATES] for r in checks.rules}
        base = {
            r.name: next(v for v in candidates[r.name] if v is not None and check_field(r, v, checks) is None)
            for r in checks.rules
        }
        assert checks.passes(base) and not check_row(checks, base)
        for rule in checks.rules:
            for value in candidates[rule.name]:
                row = {**base, rule.name: value}
                assert checks.passes(row) == (not check_row(checks, row)), (rule.name, value)
                deleted = not check_row(checks, row, delete=True)
                assert checks.passes_delete(row) == deleted, (rule.name, value)
                compared += 1
        row = {k: v for k, v in base.items() if k != checks.rules[0].name}  # an absent field
        assert checks.passes(row) == (not check_row(checks, row))
    assert compared > 100
