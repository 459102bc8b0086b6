"""The policy engine: every sharing rule and reason code of `Policy.route`, table-driven, on a
small synthetic city; then the sample catalogs' intended behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sharebus.catalog.load import CatalogTexts, parse_catalog
from sharebus.catalog.models import Catalog
from sharebus.core.gbcodes import resident_id_check_char
from sharebus.testing.builders import debezium_event, sample_enterprise
from streams.policy import Policy, PolicyError, Reason, RouteResult, compile_policy
from streams.policy.masks import make_pseudonym

KEY = b"test-pseudonym-key-32-bytes-long"
A, B, C = "990101", "990102", "990103"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = datetime(2026, 7, 1, tzinfo=UTC)
EARLY = datetime(2024, 6, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _id(body: str) -> str:
    return body + resident_id_check_char(body)


ID1 = _id("99010119800101123")


def _f(name: str, type_: str, grade: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "grade": grade, **extra}


def _res(rid: str, sharing: str, region: str | None, fields: list[dict[str, Any]]) -> dict[str, Any]:
    res = {
        "id": rid,
        "title": rid,
        "department": "src",
        "source": {"connector": "cdc.src", "table": f"public.{rid.split('.')[1]}"},
        "primary_key": ["id"],
        "sharing": sharing,
        "region_field": region,
        "update_frequency": "realtime",
        "fields": [_f("id", "integer", "internal"), *fields],
    }
    if sharing != "unconditional":
        res["legal_basis"] = "test basis"
    return res


def _d(
    did: str, sub: str, res: str, status: str, frm: str, until: str | None = None, **kw: Any
) -> dict[str, Any]:
    d: dict[str, Any] = {"id": did, "subscriber": sub, "resource": res, "purpose": "t", "status": status}
    d |= {"valid_from": frm, "valid_until": until, **kw}
    if status != "pending":
        d["approver"] = "authority"
    return d


T0, T1 = "2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"
DISTRICT = _f("district", "string", "public", code="region")
TEST_CITY: dict[str, Any] = {
    "region": {
        "format": 1,
        "city": {"id": "testcity", "name": "Test City", "code": "990000"},
        "subscribers": [
            {"id": "zone-ab", "name": "Zone AB", "kind": "zone", "districts": [A, B]},
            {"id": "dept-all", "name": "City dept", "kind": "department", "city_wide": True},
            {"id": "dept-c", "name": "Dept of C", "kind": "department", "districts": [C]},
        ],
    },
    "catalog": {
        "format": 1,
        "departments": [{"id": "src", "name": "Source dept"}],
        "resources": [
            _res(
                "src.reg",
                "unconditional",
                "district",
                [
                    _f("name", "string", "public"),
                    _f("idno", "string", "sensitive", mask="id_number"),
                    _f("phone", "string", "sensitive", mask="phone"),
                    _f("person", "string", "sensitive", mask="pseudonym"),
                    _f("note", "string", "sensitive", mask="redact"),
                    _f("secret_col", "string", "secret"),
                    DISTRICT,
                ],
            ),
            _res(
                "src.cond",
                "conditional",
                "district",
                [
                    _f("owner", "string", "sensitive", mask="name"),
                    _f("owner_id", "string", "sensitive", mask="pseudonym"),
                    _f("area", "decimal", "public"),
                    DISTRICT,
                ],
            ),
            _res(
                "src.wide",
                "unconditional",
                None,
                [_f("title", "string", "public"), _f("contact", "string", "sensitive", mask="phone")],
            ),
            _res("src.closed", "not_shared", "district", [DISTRICT]),
            _res("src.unused", "unconditional", "district", [DISTRICT]),
        ],
    },
    "demands": {
        "format": 1,
        "demands": [
            _d("R1", "all-districts", "src.reg", "approved", T0),
            _d("R2", A, "src.reg", "approved", T0, fields=["name", "idno", "district"], clear=["idno"]),
            _d(
                "R3",
                "zone-ab",
                "src.reg",
                "pending",
                T0,
                fields=["name", "phone", "district"],
                clear=["phone"],
            ),
            _d("R4", "dept-all", "src.reg", "rejected", T0),
            _d(
                "C1",
                A,
                "src.cond",
                "approved",
                T0,
                T1,
                fields=["owner", "owner_id", "area", "district"],
                clear=["owner_id"],
            ),
            _d("C2", B, "src.cond", "pending", T0, T1, fields=["area"]),
            _d("C3", C, "src.cond", "revoked", T0, T1, fields=["area"]),
            _d("C4", "zone-ab", "src.cond", "approved", T0, "2025-06-01T00:00:00Z", fields=["area"]),
            _d(
                "C5",
                "dept-all",
                "src.cond",
                "approved",
                "2026-06-01T00:00:00+08:00",
                T1,
                fields=["owner_id", "area", "district"],
            ),
            _d("C6", "dept-c", "src.cond", "approved", T0, T1, fields=["area", "district"]),
            _d("W1", "all-districts", "src.wide", "approved", T0),
            _d("W2", "zone-ab", "src.wide", "pending", T0, "2025-12-01T00:00:00Z"),
            _d("X1", "dept-all", "src.closed", "rejected", T0),
        ],
    },
    "responsibility": {
        "format": 1,
        "responsibilities": [
            {"resource": r, "unit": "Source dept", "contact": {"name": "n", "email": "e@x"}}
            for r in ("src.reg", "src.cond", "src.wide", "src.closed", "src.unused")
        ],
    },
    "districts": f"code,name,kind\n{A},A区,district\n{B},B区,district\n{C},C县,county\n",
}


def build(city: dict[str, Any]) -> Catalog:
    def dump(data: Any) -> str:
        return yaml.dump(data, Dumper=DUMPER, allow_unicode=True)

    texts = CatalogTexts(
        region=dump(city["region"]),
        catalog=dump(city["catalog"]),
        demands=dump(city["demands"]),
        responsibility=dump(city["responsibility"]),
        districts=city["districts"],
    )
    catalog, issues = parse_catalog(texts, folder="testcity")
    assert catalog is not None, [i.render() for i in issues]
    return catalog


@pytest.fixture(scope="module")
def policy() -> Policy:
    return compile_policy(build(TEST_CITY), pseudonym_key=KEY)


ROWS: dict[str, dict[str, Any]] = {
    "reg": {"name": "n", "idno": ID1, "phone": "13812345678", "person": ID1, "note": "x"},
    "cond": {"owner": "张三", "owner_id": ID1, "area": "12.50"},
    "wide": {"title": "t", "contact": "13812345678"},
}


def row(district: str | None = A, **kw: Any) -> dict[str, Any]:
    """A row image; `event` keeps the columns of the event's table."""
    base = {"id": 1, "district": district, "secret_col": "s"}
    for cols in ROWS.values():
        base |= cols
    return base | kw


def _columns(table: str, image: Any) -> Any:
    if not isinstance(image, dict):
        return image
    known = {"id", *ROWS.get(table, {})} | ({"district"} if table != "wide" else set())
    known |= {"secret_col"} if table == "reg" else set()
    extra = set(image) - {"id", "district", "secret_col"} - {c for r in ROWS.values() for c in r}
    return {k: v for k, v in image.items() if k in known or k in extra}


def event(
    table: str, op: str, before: Any = None, after: Any = None, department: str = "src"
) -> dict[str, Any]:
    before, after = _columns(table, before), _columns(table, after)
    return debezium_event(op, before, after, table=table, department=department, db="src")


def deliveries(r: RouteResult) -> set[tuple[str, str, str]]:
    return {(d.subscriber, d.op, d.reason.value) for d in r.deliveries}


def withheld(r: RouteResult) -> set[tuple[str | None, str]]:
    return {(w.subscriber, w.reason.value) for w in r.withheld}


SU, SA, MO = "shared_unconditional", "shared_approved", "moved_out"
REJ = ("dept-all", "demand_rejected")
CASES: list[tuple[str, dict[str, Any], datetime, set[Any], set[Any]]] = [
    # name, event, now, deliveries {(subscriber, op, reason)}, withheld {(subscriber, reason)}
    (
        "unconditional create, explicit demand wins over all-districts, zone included",
        event("reg", "c", after=row(A)),
        NOW,
        {(A, "c", SU), ("zone-ab", "c", SU)},
        {REJ},
    ),
    (
        "snapshot read routes like a create",
        event("reg", "r", after=row(B)),
        NOW,
        {(B, "r", SU), ("zone-ab", "r", SU)},
        {REJ},
    ),
    (
        "other districts and zones do not see the row (no per-district withholding)",
        event("reg", "c", after=row(C)),
        NOW,
        {(C, "c", SU)},
        {REJ},
    ),
    (
        "update within a district",
        event("reg", "u", before=row(A), after=row(A, name="m")),
        NOW,
        {(A, "u", SU), ("zone-ab", "u", SU)},
        {REJ},
    ),
    (
        "move A → C: tombstones to A and the zone, full row to C",
        event("reg", "u", before=row(A), after=row(C)),
        NOW,
        {(C, "u", SU), (A, "d", MO), ("zone-ab", "d", MO)},
        {REJ},
    ),
    (
        "move A → B: the zone covers both and keeps the row",
        event("reg", "u", before=row(A), after=row(B)),
        NOW,
        {(B, "u", SU), ("zone-ab", "u", SU), (A, "d", MO)},
        {REJ},
    ),
    (
        "delete: tombstones to every entitled subscriber of the old region",
        event("reg", "d", before=row(B)),
        NOW,
        {(B, "d", SU), ("zone-ab", "d", SU)},
        {REJ},
    ),
    (
        "update without before-image: delivered, the missing move check reported",
        event("reg", "u", after=row(A)),
        NOW,
        {(A, "u", SU), ("zone-ab", "u", SU)},
        {REJ, (None, "before_image_missing")},
    ),
    ("unknown region code", event("reg", "c", after=row("990199")), NOW, set(), {(None, "region_unknown")}),
    ("missing region code", event("reg", "c", after=row(None)), NOW, set(), {(None, "region_missing")}),
    (
        "delete whose before-image lacks the region",
        event("reg", "d", before={"id": 1}),
        NOW,
        set(),
        {(None, "region_missing")},
    ),
    (
        "schema drift: unknown column dropped and reported",
        event("reg", "c", after=row(C, added_col=1)),
        NOW,
        {(C, "c", SU)},
        {REJ, (None, "schema_drift")},
    ),
    ("truncate", event("reg", "t"), NOW, set(), {(None, "truncate")}),
    ("unknown op", event("reg", "x", after=row()), NOW, set(), {(None, "malformed_event")}),
    ("create without after-image", event("reg", "c"), NOW, set(), {(None, "malformed_event")}),
    ("key field missing", event("reg", "c", after=row(id=None)), NOW, set(), {(None, "malformed_event")}),
    ("unknown table", event("nope", "c", after=row()), NOW, set(), {(None, "unknown_source")}),
    (
        "not_shared: never delivered, whatever the demands",
        event("closed", "c", after=row()),
        NOW,
        set(),
        {(None, "not_shared")},
    ),
    ("nobody subscribed", event("unused", "c", after=row()), NOW, set(), {(None, "no_subscriber")}),
    (
        "conditional: approved delivered; expired and not-yet-valid withheld",
        event("cond", "c", after=row(A)),
        NOW,
        {(A, "c", SA)},
        {("zone-ab", "demand_expired"), ("dept-all", "demand_not_yet_valid")},
    ),
    (
        "conditional: pending withheld",
        event("cond", "c", after=row(B)),
        NOW,
        set(),
        {(B, "demand_pending"), ("zone-ab", "demand_expired"), ("dept-all", "demand_not_yet_valid")},
    ),
    (
        "conditional: revoked withheld, department with a district filter delivered",
        event("cond", "c", after=row(C)),
        NOW,
        {("dept-c", "c", SA)},
        {(C, "demand_revoked"), ("dept-all", "demand_not_yet_valid")},
    ),
    (
        "conditional: later the city-wide department's demand is in force",
        event("cond", "c", after=row(A)),
        LATER,
        {(A, "c", SA), ("dept-all", "c", SA)},
        {("zone-ab", "demand_expired")},
    ),
    (
        "conditional: before any demand is valid",
        event("cond", "c", after=row(A)),
        EARLY,
        set(),
        {
            (A, "demand_not_yet_valid"),
            ("zone-ab", "demand_not_yet_valid"),
            ("dept-all", "demand_not_yet_valid"),
        },
    ),
    (
        "conditional: move A → C under the policy in force",
        event("cond", "u", before=row(A), after=row(C)),
        LATER,
        {("dept-c", "u", SA), ("dept-all", "u", SA), (A, "d", MO)},
        {(C, "demand_revoked")},
    ),
    (
        "conditional: delete goes to entitled subscribers only",
        event("cond", "d", before=row(A)),
        NOW,
        {(A, "d", SA)},
        {("zone-ab", "demand_expired"), ("dept-all", "demand_not_yet_valid")},
    ),
    (
        "city-wide resource: every entitled subscriber, whatever the row's district",
        event("wide", "c", after=row(A)),
        NOW,
        {(A, "c", SU), (B, "c", SU), (C, "c", SU)},
        {("zone-ab", "demand_expired")},
    ),
    (
        "city-wide resource delete",
        event("wide", "d", before=row(None)),
        NOW,
        {(A, "d", SU), (B, "d", SU), (C, "d", SU)},
        {("zone-ab", "demand_expired")},
    ),
]


@pytest.mark.parametrize(("name", "ev", "now", "delivered", "held"), CASES, ids=[c[0] for c in CASES])
def test_route(
    policy: Policy,
    name: str,
    ev: dict[str, Any],
    now: datetime,
    delivered: set[Any],
    held: set[Any],
) -> None:
    result = policy.route(ev, now)
    assert deliveries(result) == delivered
    assert withheld(result) == held
    assert len(result.deliveries) == len(delivered), "one delivery per subscriber"
    assert result.policy_version == policy.version


def test_every_reason_code_is_exercised() -> None:
    seen = {reason for *_, d, h in CASES for reason in [x[2] for x in d] + [x[1] for x in h]}
    assert seen == {r.value for r in Reason}


@pytest.mark.parametrize(
    ("ev", "now", "subscriber", "expected"),
    [
        # explicit demand R2: requested fields + key, idno granted in clear
        (event("reg", "c", after=row(A)), NOW, A, {"id": 1, "name": "n", "idno": ID1, "district": A}),
        # all-districts R1: every non-secret field; masks; redact drops `note`
        (
            event("reg", "c", after=row(B)),
            NOW,
            B,
            {
                "id": 1,
                "name": "n",
                "idno": ID1[:6] + "************",
                "phone": "138****5678",
                "person": make_pseudonym(KEY)(ID1),
                "district": B,
            },
        ),
        # pending demand on an unconditional resource: clear grant not applied
        (
            event("reg", "c", after=row(A)),
            NOW,
            "zone-ab",
            {"id": 1, "name": "n", "phone": "138****5678", "district": A},
        ),
        # conditional, approved: owner masked, owner_id in clear
        (
            event("cond", "c", after=row(A)),
            NOW,
            A,
            {"id": 1, "owner": "张*", "owner_id": ID1, "area": "12.50", "district": A},
        ),
        # the same person's pseudonym is equal across resources (joinable)
        (
            event("cond", "c", after=row(A)),
            LATER,
            "dept-all",
            {"id": 1, "owner_id": make_pseudonym(KEY)(ID1), "area": "12.50", "district": A},
        ),
        (event("cond", "c", after=row(C)), NOW, "dept-c", {"id": 1, "area": "12.50", "district": C}),
        (event("wide", "c", after=row(A)), NOW, C, {"id": 1, "title": "t", "contact": "138****5678"}),
        (event("reg", "d", before=row(B)), NOW, B, None),
        (event("reg", "u", before=row(A), after=row(C)), NOW, A, None),
    ],
)
def test_projection_and_masks(
    policy: Policy, ev: dict[str, Any], now: datetime, subscriber: str, expected: Any
) -> None:
    (d,) = [d for d in policy.route(ev, now).deliveries if d.subscriber == subscriber]
    assert d.value == expected
    assert d.key == {"id": 1}
    assert d.topic == f"share.{subscriber}.src"  # one topic per (subscriber, department)
    assert d.resource == f"src.{ev['source']['table']}"
    if expected is not None:
        assert list(d.value or {}) == list(expected), "fields keep the catalog's order"


def test_drifted_column_and_secret_never_delivered(policy: Policy) -> None:
    result = policy.route(event("reg", "c", after=row(B, added_col=1)), NOW)
    assert result.dropped_fields == ("added_col",)
    for d in result.deliveries:
        assert "added_col" not in (d.value or {})
        assert "secret_col" not in (d.value or {})
        assert "note" not in (d.value or {})


def test_delivery_lineage(policy: Policy) -> None:
    result = policy.route(event("reg", "c", after=row(B)), NOW)
    by_sub = {d.subscriber: d for d in result.deliveries}
    assert by_sub[B].demand_id == f"R1/{B}"
    assert by_sub["zone-ab"].demand_id == "R3"
    assert result.resource == "src.reg" and result.op == "c"


def test_time_segments_do_not_leak(policy: Policy) -> None:
    ev = event("cond", "c", after=row(A))
    for _ in range(3):  # alternate across a validity boundary
        assert ("dept-all", "c", SA) not in deliveries(policy.route(ev, NOW))
        assert ("dept-all", "c", SA) in deliveries(policy.route(ev, LATER))
    boundary = datetime(2026, 5, 31, 16, 0, tzinfo=UTC)  # C5 valid_from in UTC: inclusive
    assert ("dept-all", "c", SA) in deliveries(policy.route(ev, boundary))
    end = datetime(2027, 1, 1, tzinfo=UTC)  # valid_until is exclusive
    assert deliveries(policy.route(ev, end)) == set()


def test_naive_now_is_rejected(policy: Policy) -> None:
    with pytest.raises(PolicyError, match="timezone-aware"):
        policy.route(event("reg", "c", after=row()), datetime(2026, 1, 1))


def test_version_is_the_catalog_content_hash() -> None:
    catalog = build(TEST_CITY)
    p = compile_policy(catalog, pseudonym_key=KEY)
    assert p.version == catalog.version and len(p.version) == 16
    int(p.version, 16)
    changed = yaml.safe_load(yaml.safe_dump(TEST_CITY))
    changed["demands"]["demands"][0]["purpose"] = "other"
    assert build(changed).version != p.version


def test_pseudonym_key_required_when_used() -> None:
    from sharebus.core.errors import ConfigError

    with pytest.raises(ConfigError, match="SHAREBUS_PSEUDONYM_KEY"):
        compile_policy(build(TEST_CITY), pseudonym_key=None)


def test_entitlements(policy: Policy) -> None:
    ents = {(e.subscriber, e.resource): e for e in policy.entitlements(NOW)}
    assert ("990101", "src.cond") in ents and ("990102", "src.cond") not in ents
    assert ents[("zone-ab", "src.reg")].masked == ("phone",)
    assert ents[("zone-ab", "src.reg")].topic == "share.zone-ab.src"
    assert ents[(B, "src.reg")].masked == ("idno", "phone", "person")
    assert "note" not in ents[(B, "src.reg")].fields


# --- the sample catalogs ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def chongqing(chongqing_catalog: Catalog) -> Policy:
    return compile_policy(chongqing_catalog, pseudonym_key=KEY)


def _cq(table: str, dept: str, op: str, **images: Any) -> dict[str, Any]:
    return debezium_event(
        op, images.get("before"), images.get("after"), table=table, department=dept, db="src"
    )


def enterprise(code: str) -> dict[str, Any]:
    return sample_enterprise(district_code=code, legal_rep_id=ID1)


def test_chongqing_enterprise(chongqing: Policy) -> None:
    r = chongqing.route(_cq("enterprise", "market", "c", after=enterprise("500105")), NOW)
    values = {d.subscriber: d.value or {} for d in r.deliveries}
    assert set(values) == {"500105", "liangjiang", "civil-affairs"}
    assert values["500105"]["legal_rep_id"] == ID1[:6] + "************"
    assert values["500105"]["legal_rep_name"] == "张*"
    assert values["civil-affairs"]["legal_rep_id"] == ID1  # approved clear-text grant
    r = chongqing.route(_cq("enterprise", "market", "c", after=enterprise("500101")), NOW)
    assert {d.subscriber for d in r.deliveries} == {"500101", "civil-affairs"}


def test_chongqing_certificate(chongqing: Policy) -> None:
    cert = {"cert_no": "c1", "owner_name": "张三", "owner_id": ID1, "area_m2": "1.00"}
    expected = {
        "500103": ({"500103"}, set()),
        "500105": ({"500105", "liangjiang"}, set()),
        "500106": (set(), {("500106", "demand_pending")}),
        "500107": (set(), {("500107", "demand_revoked")}),
        "500108": (set(), {("500108", "demand_expired")}),
        "500101": (set(), {(None, "no_subscriber")}),
    }
    for code, (subs, held) in expected.items():
        after = cert | {"district_code": code}
        r = chongqing.route(_cq("certificate", "realestate", "c", after=after), NOW)
        assert {d.subscriber for d in r.deliveries} == subs, code
        assert withheld(r) == held, code
    r = chongqing.route(_cq("certificate", "realestate", "c", after=cert | {"district_code": "500103"}), NOW)
    assert r.deliveries[0].value is not None and r.deliveries[0].value["owner_id"] == ID1
    r = chongqing.route(_cq("certificate", "realestate", "c", after=cert | {"district_code": "500105"}), NOW)
    values = {d.subscriber: d.value or {} for d in r.deliveries}
    assert values["500105"]["owner_id"] == make_pseudonym(KEY)(ID1)
    assert "owner_id" not in values["liangjiang"]


def test_chongqing_inspection_not_shared(chongqing: Policy) -> None:
    after = {"id": 1, "uscc": "x", "district_code": "500105", "finding": "f"}
    r = chongqing.route(_cq("inspection", "market", "c", after=after), NOW)
    assert r.deliveries == () and withheld(r) == {(None, "not_shared")}


def test_zhuzhou_city_wide_enterprise(zhuzhou_catalog: Catalog) -> None:
    p = compile_policy(zhuzhou_catalog, pseudonym_key=KEY)
    r = p.route(_cq("enterprise", "market", "c", after=enterprise("430202")), NOW)
    assert len(r.deliveries) == 9 + 1  # every district + the zone (pending, unconditional)
    assert all("phone" not in (d.value or {}) for d in r.deliveries)  # redacted
