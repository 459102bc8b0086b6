"""No single record stops routing: a value that passes the checks but that the encoder refuses is
dead-lettered with its reason, and the records around it are routed."""

from __future__ import annotations

import math
from typing import Any

import pytest

from schemas.encoder import SchemaBook
from sharebus.core import naming
from sharebus.core.naming import H_CHECK, H_REASON
from sharebus.testing.builders import debezium_bytes, raw_record, sample_enterprise
from streams.quality import compile_checks
from streams.router.batch import ENCODE_CHECK, BatchRouter

# Values of each catalog type that are wrong in a way a pattern or type check may not see.
POISON: dict[str, list[Any]] = {
    "established_on": [10**12, -(10**12), 1.5, "2024-02-30", True],
    "created_at": ["2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "9999999-01-01T00:00:00Z", 1e300],
    "updated_at": ["2024-02-29T25:61:00Z", "", "not a time", [1]],
    "reg_capital": [math.nan, "1e400", "NaN", {"x": 1}],
    "name": ["x" * 100_000, "\ud800", 7],
    "phone": [12345678901234567890, "+" * 5000],
    "status": [None, 3.14],
}


@pytest.fixture(scope="module")
def router(book: SchemaBook) -> BatchRouter:
    """A router of its own (the tests switch its lanes), over test_router_batch's schema book."""
    return BatchRouter(book.policy, compile_checks(book.policy.catalog), book.encoder_for)


@pytest.mark.parametrize("lanes", [True, False])
@pytest.mark.parametrize(("column", "value"), [(c, v) for c, vs in POISON.items() for v in vs])
def test_a_poisoned_value_is_dead_lettered_and_routing_goes_on(
    router: BatchRouter, lanes: bool, column: str, value: Any
) -> None:
    router.lanes = lanes
    good = sample_enterprise()
    try:
        bad_bytes = debezium_bytes("c", None, sample_enterprise(**{column: value}))
    except (TypeError, ValueError):  # not even JSON-encodable: write it as Debezium never would
        bad_bytes = debezium_bytes("c", None, sample_enterprise(**{column: repr(value)}))
    records = [
        raw_record(debezium_bytes("c", None, good), offset=1),
        raw_record(bad_bytes, offset=2),
        raw_record(debezium_bytes("c", None, good), offset=3),
    ]
    out = router.route_batch(records)
    dead = [m for m in out.messages if m.topic == naming.dlq_topic("market")]
    delivered = [m for m in out.messages if m.topic.startswith(naming.SHARE_PREFIX)]
    offsets = {dict(m.headers)[naming.H_OFFSET] for m in delivered}
    assert offsets >= {b"1", b"3"}, "the records around the poisoned one are routed"
    if dead:  # refused: by a check, or by the encoder; never half-delivered
        assert len(dead) == 1 and dead[0].value == bad_bytes
        assert b"2" not in offsets, "a dead-lettered record has no delivery"
        headers = dict(dead[0].headers)
        assert headers[H_CHECK] and headers[H_REASON]


def test_an_impossible_date_is_dead_lettered_by_the_encoder_naming_the_field(router: BatchRouter) -> None:
    """`2024-02-30` passes the timestamp pattern; the Avro encoder refuses it (it crashed the
    worker on every restart before: the batch was never committed)."""
    bad = debezium_bytes("c", None, sample_enterprise(created_at="2024-02-30T00:00:00Z"))
    out = router.route_batch([raw_record(bad, offset=7)])
    [dead] = out.messages
    headers = dict(dead.headers)
    assert dead.topic == "dlq.market" and dead.value == bad
    assert headers[H_CHECK] == ENCODE_CHECK.encode()
    assert b"created_at" in headers[H_REASON] and b"day is out of range" in headers[H_REASON]
    assert [(k.outcome, k.reason) for k in out.calls] == [("dead_letter", ENCODE_CHECK)]
