"""The demand workflow's steps as pure functions: who may take each, what each allows, and the
states a demand goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sharebus.catalog.models import Catalog, Contact, DemandStatus
from sharebus.catalog.workflow import (
    Actor,
    DemandRefused,
    DemandRequest,
    DemandState,
    Step,
    approve,
    next_demand_id,
    reject,
    request,
    revoke,
    state_at,
    visible,
    with_demand,
)
from sharebus.core.errors import ExitCode

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
AUTHORITY = Actor("dsj-approver", authority=True)
DISTRICT = Actor("500106")
CONTACT = Contact(name="王工", phone="023-12345678")


def ask(**kw: object) -> DemandRequest:
    base: dict[str, object] = {
        "subscriber": "500106",
        "resource": "realestate.certificate",
        "purpose": "不动产登记核验",
        "contact": CONTACT,
        "fields": ("cert_no", "district_code"),
        "valid_until": NOW + timedelta(days=90),
    }
    return DemandRequest(**{**base, **kw})  # type: ignore[arg-type]


def requested(catalog: Catalog, **kw: object) -> tuple[Catalog, str]:
    demand, step = request(catalog, DISTRICT, ask(**kw), NOW)
    assert step.step is Step.REQUEST and step.before is None and step.after is DemandState.PENDING
    return with_demand(catalog, demand), demand.id


def test_a_district_requests_a_conditional_resource_for_itself(chongqing_catalog: Catalog) -> None:
    demand, step = request(chongqing_catalog, DISTRICT, ask(), NOW)
    assert demand.status is DemandStatus.PENDING and demand.subscriber == "500106"
    assert demand.fields == ("cert_no", "district_code") and demand.valid_from == NOW
    assert step.actor == "500106" and step.detail["contact"]["phone"] == "023-12345678"
    updated = with_demand(chongqing_catalog, demand)
    assert updated.demands[-1] == demand and updated.version != chongqing_catalog.version


def test_requests_are_refused_for_others_unknown_subscribers_and_not_shared_resources(
    chongqing_catalog: Catalog,
) -> None:
    with pytest.raises(DemandRefused, match="for itself only") as other:
        request(chongqing_catalog, DISTRICT, ask(subscriber="500107"), NOW)
    assert other.value.exit_code is ExitCode.REFUSED
    with pytest.raises(DemandRefused, match="unknown subscriber"):
        request(chongqing_catalog, AUTHORITY, ask(subscriber="999999"), NOW)
    with pytest.raises(DemandRefused, match="is not shared") as closed:
        request(chongqing_catalog, DISTRICT, ask(resource="market.inspection", fields=("id",)), NOW)
    assert "执法" in (closed.value.actual or "")  # the catalog's legal basis is quoted
    with pytest.raises(DemandRefused, match="names the fields"):
        request(chongqing_catalog, DISTRICT, ask(fields=None), NOW)
    with pytest.raises(DemandRefused, match="does not deliver"):
        request(chongqing_catalog, DISTRICT, ask(fields=("cert_no", "no_such_field")), NOW)
    with pytest.raises(DemandRefused, match="ends before it begins"):
        request(chongqing_catalog, DISTRICT, ask(valid_until=NOW - timedelta(days=1)), NOW)
    # The data authority may file a request for any subscriber.
    demand, _ = request(chongqing_catalog, AUTHORITY, ask(subscriber="500107"), NOW)
    assert demand.subscriber == "500107"


def test_only_the_data_authority_approves_never_the_subscriber_itself(chongqing_catalog: Catalog) -> None:
    catalog, demand_id = requested(chongqing_catalog)
    with pytest.raises(DemandRefused, match="never decides its own demand") as own:
        approve(catalog, DISTRICT, demand_id, NOW, consent="不动产登记中心")
    assert own.value.exit_code is ExitCode.REFUSED
    with pytest.raises(DemandRefused, match="data authority's decision"):
        reject(catalog, Actor("500107"), demand_id, NOW, reason="no")
    with pytest.raises(DemandRefused, match="must consent"):
        approve(catalog, AUTHORITY, demand_id, NOW)
    decided, step = approve(catalog, AUTHORITY, demand_id, NOW, consent="不动产登记中心", reason="核验")
    assert decided.status is DemandStatus.APPROVED and decided.approver == "dsj-approver"
    assert (step.before, step.after) == (DemandState.PENDING, DemandState.APPROVED)
    assert step.detail["consent"] == {"department": "realestate", "by": "不动产登记中心"}
    with pytest.raises(DemandRefused, match="only a pending demand"):
        approve(with_demand(catalog, decided), AUTHORITY, demand_id, NOW, consent="x")


def test_an_approval_narrows_fields_and_validity_never_widens_them(chongqing_catalog: Catalog) -> None:
    catalog, demand_id = requested(chongqing_catalog)
    sooner = NOW + timedelta(days=30)
    decided, _ = approve(
        catalog, AUTHORITY, demand_id, NOW, consent="c", fields=["cert_no"], valid_until=sooner
    )
    assert decided.fields == ("cert_no",) and decided.valid_until == sooner
    with pytest.raises(DemandRefused, match="never widen"):
        approve(catalog, AUTHORITY, demand_id, NOW, consent="c", fields=["cert_no", "owner_name"])
    with pytest.raises(DemandRefused, match="never later"):
        approve(catalog, AUTHORITY, demand_id, NOW, consent="c", valid_until=NOW + timedelta(days=365))


def test_reject_and_revoke_say_why_and_follow_the_states(chongqing_catalog: Catalog) -> None:
    catalog, demand_id = requested(chongqing_catalog)
    with pytest.raises(DemandRefused, match="says why"):
        reject(catalog, AUTHORITY, demand_id, NOW, reason=" ")
    with pytest.raises(DemandRefused, match="rejected instead"):
        revoke(catalog, AUTHORITY, demand_id, NOW, reason="r")
    rejected, step = reject(catalog, AUTHORITY, demand_id, NOW, reason="用途不明确")
    assert rejected.status is DemandStatus.REJECTED and step.after is DemandState.REJECTED
    assert rejected.note == "用途不明确"

    approved, _ = approve(catalog, AUTHORITY, demand_id, NOW, consent="c")
    catalog = with_demand(catalog, approved)
    with pytest.raises(DemandRefused, match="data authority's decision"):
        revoke(catalog, DISTRICT, demand_id, NOW, reason="r")
    revoked, step = revoke(catalog, AUTHORITY, demand_id, NOW + timedelta(days=1), reason="用途已完成")
    assert revoked.status is DemandStatus.REVOKED
    assert (step.before, step.after) == (DemandState.APPROVED, DemandState.REVOKED)


def test_an_approved_demand_expires_by_time_and_then_cannot_be_revoked(chongqing_catalog: Catalog) -> None:
    catalog, demand_id = requested(chongqing_catalog)
    approved, _ = approve(catalog, AUTHORITY, demand_id, NOW, consent="c")
    assert approved.valid_until is not None
    assert state_at(approved, approved.valid_until - timedelta(seconds=1)) is DemandState.APPROVED
    assert state_at(approved, approved.valid_until) is DemandState.EXPIRED
    with pytest.raises(DemandRefused, match="it is expired"):
        revoke(with_demand(catalog, approved), AUTHORITY, demand_id, approved.valid_until, reason="r")


def test_demand_ids_are_unique_and_a_subscriber_sees_only_its_own(chongqing_catalog: Catalog) -> None:
    catalog, first = requested(chongqing_catalog)
    second = next_demand_id(catalog, "500106", "realestate.certificate")
    assert first == "500106.realestate.certificate" and second == f"{first}-2"
    mine = visible(catalog, DISTRICT)
    assert mine and all(d.subscriber == "500106" for d in mine)
    assert len(visible(catalog, AUTHORITY)) == len(catalog.demands)


def test_a_conditional_resource_is_requested_with_an_end(chongqing_catalog: Catalog) -> None:
    with pytest.raises(DemandRefused) as caught:
        request(chongqing_catalog, Actor("500106"), ask(valid_until=None), NOW)
    assert caught.value.kind == DemandRefused.INVALID and "ends at a stated time" in caught.value.problem
