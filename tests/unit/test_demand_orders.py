"""A workflow step as data: what the CLI and the web API ask and the desk takes round-trips through
JSON unchanged; malformed input is refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from sharebus.catalog.models import Contact
from sharebus.catalog.orders import DeskRequest, StepOrder, parse_utc
from sharebus.catalog.workflow import DemandRefused, DemandRequest, Step

UNTIL = datetime(2027, 6, 30, tzinfo=UTC)
ORDERS = [
    StepOrder(
        Step.REQUEST,
        ask=DemandRequest(
            subscriber="500106",
            resource="realestate.certificate",
            purpose="核验",
            contact=Contact(name="王工", phone="023-1"),
            fields=("cert_no", "district_code"),
            valid_until=UNTIL,
        ),
    ),
    StepOrder(
        Step.APPROVE, demand="D-1", fields=("cert_no",), valid_until=UNTIL, consent="中心", reason="ok"
    ),
    StepOrder(Step.APPROVE, demand="D-1"),
    StepOrder(Step.REJECT, demand="D-1", reason="no"),
    StepOrder(Step.REVOKE, demand="D-1", reason="done"),
]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: o.step.value)
def test_an_order_round_trips_through_json(order: StepOrder) -> None:
    assert StepOrder.from_dict(orjson.loads(orjson.dumps(order.to_dict()))) == order
    request = DeskRequest(order, "500106", False)
    assert DeskRequest.from_dict(orjson.loads(orjson.dumps(request.to_dict()))) == request


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ([], "the step"),
        ({"step": "bless"}, "step"),
        ({"step": "approve"}, "demand"),
        ({"step": "approve", "demand": "D", "valid_until": "2027-06-30"}, "valid_until"),
        ({"step": "approve", "demand": "D", "fields": "cert_no"}, "fields"),
        ({"step": "request", "resource": "r", "purpose": "p", "subscriber": "s"}, "contact"),
        ({"step": "request", "resource": "r", "purpose": "p", "contact": {"name": "n"}}, "contact"),
        (
            {"step": "request", "purpose": "p", "subscriber": "s", "contact": {"name": "n", "phone": "1"}},
            "resource",
        ),
        ({"step": "reject", "demand": "D", "reason": 3}, "reason"),
    ],
)
def test_malformed_orders_are_refused_naming_the_field(data: object, named: str) -> None:
    with pytest.raises(DemandRefused) as caught:
        StepOrder.from_dict(data)
    assert caught.value.subject == named and caught.value.kind == DemandRefused.INVALID


def test_times_need_their_offset() -> None:
    assert parse_utc("2027-06-30T08:00:00+08:00") == UNTIL
    assert parse_utc("2027-06-30T00:00:00") is None and parse_utc("soon") is None
