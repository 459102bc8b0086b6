"""The testing kit: `wait_until` waits within its tolerance and names what it waited for; the
builders make what Debezium writes."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import pytest

from sharebus.core.gbcodes import is_valid_resident_id, is_valid_usci
from sharebus.testing.builders import (
    as_debezium_json,
    debezium_bytes,
    debezium_event,
    raw_record,
    sample_enterprise,
)
from sharebus.testing.waiting import WaitTimeout, wait_until
from streams.policy.envelope import source_key


def test_wait_until_returns_the_first_truthy_value() -> None:
    calls = iter([0, None, "", "ready"])
    assert wait_until(lambda: next(calls), 1.0, "the value", interval=0) == "ready"


def test_wait_until_names_what_it_waited_for_and_the_last_state() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"waited 0\.2 s for the topic to exist; last seen: 'absent'"):
        wait_until(lambda: False, 0.2, "the topic to exist", interval=0.05, last=lambda: "absent")
    assert time.monotonic() - started < 1.0
    assert issubclass(WaitTimeout, AssertionError)  # a failed test, not an error


def test_wait_until_does_not_swallow_an_exception() -> None:
    def boom() -> bool:
        raise KeyError("x")

    with pytest.raises(KeyError):
        wait_until(boom, 1.0, "never")


def test_debezium_events_carry_the_source_the_router_keys_on() -> None:
    event = debezium_event("c", None, {"id": 1}, table="enterprise", department="market")
    assert source_key(event) == ("cdc.market", "public", "enterprise")
    assert event["source"]["db"] == "dept_market" and event["op"] == "c"
    assert orjson.loads(debezium_bytes("d", {"id": 1}, None, lsn=7))["source"]["lsn"] == 7
    record = raw_record(b"{}", offset=3)
    assert (record.topic, record.offset, record.value) == ("cdc.market", 3, b"{}")


def test_sample_rows_are_valid_and_shaped_like_debezium_json() -> None:
    row = sample_enterprise(phone=None, status=...)
    assert is_valid_usci(row["uscc"]) and is_valid_resident_id(row["legal_rep_id"])
    assert row["phone"] is None and "status" not in row
    converted = as_debezium_json(
        {
            "d": date(1970, 1, 11),
            "t": datetime(2025, 1, 1, 8, tzinfo=UTC),
            "n": Decimal("1.50"),
            "s": "x",
        }
    )
    assert converted == {"d": 10, "t": "2025-01-01T08:00:00Z", "n": "1.50", "s": "x"}


def test_test_ports_are_below_the_ephemeral_range_free_and_never_handed_out_twice() -> None:
    import socket

    from sharebus.testing import ports

    given = {ports.free_port() for _ in range(50)}
    assert len(given) == 50 and all(ports.LOW <= p <= ports.HIGH for p in given)
    assert not given & ports.STACK
    first, second = [p for p in range(ports.HIGH, ports.LOW, -1) if p not in ports._given][:2]
    offered = iter([first, second])

    class Offers:
        def randint(self, low: int, high: int) -> int:
            return next(offered)

    rng, ports._rng = ports._rng, Offers()  # type: ignore[assignment]
    try:
        with socket.socket() as held:  # a port something listens on is skipped
            held.bind(("127.0.0.1", first))
            held.listen()
            assert ports.free_port() == second
    finally:
        ports._rng = rng
