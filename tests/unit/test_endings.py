"""Why access ends and when it changes by the clock: pure, over the sample catalog."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sharebus.catalog.endings import NOT_SHARED, REMOVED, Ending, ending, next_boundary, states_at
from sharebus.catalog.models import Catalog, Demand, DemandStatus
from sharebus.catalog.workflow import with_demand

NOW = datetime(2026, 6, 1, tzinfo=UTC)
R = "realestate.certificate"


def demand(demand_id: str, **kw: object) -> Demand:
    fields: dict[str, object] = {
        "id": demand_id,
        "subscriber": "500106",
        "resource": R,
        "purpose": "test",
        "status": DemandStatus.APPROVED,
        "valid_from": NOW - timedelta(days=1),
        **kw,
    }
    return Demand.model_validate(fields)


@pytest.fixture
def catalog_with(chongqing_catalog: Catalog) -> Callable[..., Catalog]:
    """The sample catalog without its demands, with these."""

    def make(*demands: Demand) -> Catalog:
        return chongqing_catalog.model_copy(update={"demands": tuple(demands)})

    return make


def test_next_boundary_is_the_first_valid_from_or_until_after_now(
    catalog_with: Callable[..., Catalog],
) -> None:
    catalog = catalog_with(
        demand("A", valid_from=NOW - timedelta(days=1), valid_until=NOW + timedelta(hours=2)),
        demand("B", valid_from=NOW + timedelta(hours=1)),
    )
    assert next_boundary(catalog, NOW) == NOW + timedelta(hours=1)
    assert next_boundary(catalog, NOW + timedelta(hours=1)) == NOW + timedelta(hours=2)
    assert next_boundary(catalog, NOW + timedelta(hours=2)) is None


def test_an_approved_demand_past_its_validity_ended_by_expiry(catalog_with: Callable[..., Catalog]) -> None:
    catalog = catalog_with(demand("A", valid_until=NOW + timedelta(hours=1)))
    assert ending(catalog, "500106", R, NOW + timedelta(hours=1)) == Ending("expired", ("A",))


def test_a_revoked_or_rejected_demand_names_itself(catalog_with: Callable[..., Catalog]) -> None:
    catalog = catalog_with(demand("A", status=DemandStatus.REVOKED))
    assert ending(catalog, "500106", R, NOW) == Ending("revoked", ("A",))
    catalog = with_demand(catalog, demand("A", status=DemandStatus.REJECTED))
    assert ending(catalog, "500106", R, NOW).reason == "rejected"


def test_without_a_demand_the_resource_is_not_shared_or_gone(catalog_with: Callable[..., Catalog]) -> None:
    catalog: Catalog = catalog_with()
    assert ending(catalog, "500106", R, NOW) == Ending(NOT_SHARED)
    assert ending(catalog, "500106", "realestate.nowhere", NOW) == Ending(REMOVED)
    assert ending(catalog, "999999", R, NOW) == Ending(REMOVED)


def test_the_demand_that_just_ended_tells_before_an_older_one(catalog_with: Callable[..., Catalog]) -> None:
    old = demand("A", valid_until=NOW - timedelta(days=1))  # expired yesterday
    new = demand("B", status=DemandStatus.REVOKED)  # revoked now
    catalog = catalog_with(old, new)
    assert ending(catalog, "500106", R, NOW) == Ending("expired", ("A",))  # nothing to compare with
    before = states_at(catalog_with(old, demand("B")), NOW)
    assert ending(catalog, "500106", R, NOW, before) == Ending("revoked", ("B",))
