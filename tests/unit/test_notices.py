"""Who hears of a demand's transitions, and what they read (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sharebus.catalog.models import Catalog, Contact
from sharebus.catalog.notices import ended_notice, recipients, step_notice
from sharebus.catalog.workflow import Actor, DemandRequest, request

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_the_subscriber_and_the_owning_department_hear_of_a_demand(chongqing_catalog: Catalog) -> None:
    assert recipients(chongqing_catalog, "500106", "realestate.certificate") == ["500106", "realestate"]
    every = recipients(chongqing_catalog, "all-districts", "market.enterprise")
    assert every[-1] == "market" and set(every[:-1]) == {d.code for d in chongqing_catalog.districts}


def test_a_step_and_a_destruction_read_as_plain_json(chongqing_catalog: Catalog) -> None:
    contact = Contact(name="n", phone="1")
    ask = DemandRequest(
        "wansheng", "realestate.certificate", "p", contact, ("cert_no",), valid_until=NOW + DAY
    )
    demand, transition = request(chongqing_catalog, Actor("wansheng"), ask, NOW)
    told = step_notice(demand, transition, "v1")
    assert told["event"] == "request" and told["to"] == "pending" and told["by"] == "wansheng"
    assert told["demand"] == demand.id and told["at"] == NOW.isoformat()
    gone = ended_notice("wansheng", "realestate.certificate", "expired", (demand.id,), 8, "v2", NOW)
    assert (gone["event"], gone["reason"], gone["tombstones"], gone["demand"]) == (
        "destroy",
        "expired",
        8,
        demand.id,
    )
