"""The router's batch step without Kafka: decode, checks, policy, dead letters, lineage, counts."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastavro import parse_schema, schemaless_reader

from schemas.encoder import SchemaBook
from schemas.keys import parse_share_key, share_key
from schemas.wire import split
from sharebus.core import naming
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.builders import as_debezium_json, debezium_bytes, raw_record
from streams.metrics.rows import CallRow
from streams.quality import compile_checks
from streams.router.batch import BatchOutput, BatchRouter
from streams.router.calls import MAX_SAMPLES, CallTally
from streams.router.lanes import lanes_at
from streams.router.lineage import (
    H_CHECK,
    H_COMMIT_TS,
    H_DEMAND,
    H_FAILED_AT,
    H_LSN,
    H_OFFSET,
    H_POLICY,
    H_REASON,
    H_SHARE_RESOURCE,
    H_UNIT,
)
from streams.router.records import Outgoing, RawRecord

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def router(book: SchemaBook) -> BatchRouter:
    return BatchRouter(book.policy, compile_checks(book.policy.catalog), book.encoder_for)


def decoded(book: SchemaBook, msg: Outgoing) -> dict[str, Any]:
    """A delivered value read back with its projection's schema (Avro, Confluent wire format)."""
    headers = dict(msg.headers)
    parsed = naming.parse_share_topic(msg.topic)
    assert parsed is not None
    schema = book.schema_for(parsed[0], headers[H_SHARE_RESOURCE].decode(), headers[H_DEMAND].decode())
    value: dict[str, Any] = schemaless_reader(io.BytesIO(split(msg.value or b"")[1]), parse_schema(schema))
    return value


def enterprise() -> dict[str, Any]:
    return as_debezium_json(RowFactory.for_settings(_settings(), seed=7).enterprise())


def _settings() -> Settings:
    return Settings(catalog_dir=CATALOG.parent, city="chongqing")


def event(
    op: str, before: dict[str, Any] | None, after: dict[str, Any] | None, table: str = "enterprise"
) -> bytes:
    ts_ms = int(NOW.timestamp() * 1000) - 150
    return debezium_bytes(op, before, after, table=table, lsn=4242, ts_ms=ts_ms, tx_id=9)


def raw(value: bytes | None, offset: int = 10, topic: str | None = None) -> RawRecord:
    return raw_record(value, offset=offset, topic=topic)


def test_an_insert_reaches_its_district_with_lineage_headers(router: BatchRouter, book: SchemaBook) -> None:
    row = enterprise()
    out = router.route_batch([raw(event("c", None, row))], NOW)
    topics = {m.topic for m in out.messages}
    assert f"share.{row['district_code']}.market" in topics
    assert not any(t.startswith("dlq.") for t in topics)
    msg = next(m for m in out.messages if m.topic == f"share.{row['district_code']}.market")
    assert msg.key == share_key("market.enterprise", {"uscc": "x"})  # resource + the source key
    assert parse_share_key(msg.key) == ("market.enterprise", {"uscc": "x"})
    headers = dict(msg.headers)
    assert headers[H_SHARE_RESOURCE] == b"market.enterprise"
    assert headers[H_OFFSET] == b"10" and headers[H_LSN] == b"4242"
    assert headers[H_POLICY] == router.policy.version.encode()
    assert headers[H_DEMAND] and headers[H_COMMIT_TS].startswith(b"2026-05-31T23:59:59")
    value = decoded(book, msg)
    assert value["legal_rep_id"] != row["legal_rep_id"]  # masked
    assert value["uscc"] == row["uscc"]


def test_malformed_json_goes_to_the_departments_dead_letters_with_its_bytes(router: BatchRouter) -> None:
    out = router.route_batch([raw(b"{not json")], NOW)
    (msg,) = out.messages
    assert msg.topic == "dlq.market" and msg.value == b"{not json"
    assert dict(msg.headers)[H_CHECK] == b"decode"
    ((key, agg),) = out.calls.items()
    assert key.outcome == "dead_letter" and key.reason == "decode" and agg.records == 1


def test_a_bad_check_character_is_dead_lettered_never_delivered(router: BatchRouter) -> None:
    row = enterprise()
    row["uscc"] = row["uscc"][:17] + ("0" if row["uscc"][17] != "0" else "1")
    out = router.route_batch([raw(event("c", None, row))], NOW)
    assert [m.topic for m in out.messages] == ["dlq.market"]
    headers = dict(out.messages[0].headers)
    assert headers[H_CHECK] == b"code" and b"uscc" in headers[H_REASON]
    assert headers[H_UNIT]  # attributed to the responsible unit


def test_not_shared_is_withheld_and_counted(router: BatchRouter) -> None:
    row = {
        "id": 1,
        "uscc": enterprise()["uscc"],
        "district_code": "500101",
        "finding": "ok",
        "inspector": "张三",
        "inspected_at": "2026-01-01T00:00:00Z",
    }
    out = router.route_batch(
        [raw(event("c", None, row, table="inspection"), topic="cdc.market.public.inspection")], NOW
    )
    assert out.messages == []
    assert [(k.outcome, k.reason) for k in out.calls] == [("withheld", "not_shared")]


def test_debezium_tombstones_are_skipped(router: BatchRouter) -> None:
    out = router.route_batch([raw(None)], NOW)
    assert out.messages == [] and out.skipped == 1


def test_a_move_tombstones_the_old_district_and_delivers_to_the_new(router: BatchRouter) -> None:
    before = enterprise()
    after = {**before, "district_code": "500102" if before["district_code"] != "500102" else "500103"}
    out = router.route_batch([raw(event("u", before, after))], NOW)
    by_topic = {m.topic: m for m in out.messages}
    old = by_topic[f"share.{before['district_code']}.market"]
    new = by_topic[f"share.{after['district_code']}.market"]
    assert old.key == new.key
    assert old.value is None and new.value is not None


def call_rows(out: BatchOutput, delivered_at: float) -> list[CallRow]:
    """The rows of one delivered batch alone."""
    tally = CallTally()
    tally.add(out, delivered_at)
    return tally.drain()


def test_call_rows_carry_latency_from_source_commit(router: BatchRouter) -> None:
    out = router.route_batch([raw(event("c", None, enterprise()))], NOW)
    rows = call_rows(out, NOW.timestamp() + 0.05)
    delivered = [r for r in rows if r.outcome == "delivered"]
    assert delivered and all(r.minute == NOW.replace(second=0) for r in rows)
    assert all(r.latencies_ms and 150 <= r.latencies_ms[0] <= 250 for r in delivered)
    assert sum(r.records for r in delivered) == sum(1 for m in out.messages if m.topic.startswith("share."))


def test_a_tally_stores_one_row_per_key_and_minute_whatever_the_batches(router: BatchRouter) -> None:
    tally = CallTally()
    at = NOW.replace(second=10).timestamp()
    batches = [router.route_batch([raw(event("c", None, enterprise()))], NOW) for _ in range(150)]
    for out in batches:
        tally.add(out, at)
    tally.add(batches[0], at + 60)  # the next minute: rows of its own
    rows = tally.drain()
    assert len(tally) == 0 and tally.drain() == []
    keys = {(r.minute, r.department, r.resource, r.subscriber, r.op, r.outcome, r.reason) for r in rows}
    assert len(keys) == len(rows) == 2 * len(batches[0].calls)
    first = [r for r in rows if r.minute == NOW.replace(second=0)]
    one = {(r.subscriber, r.outcome, r.reason): r for r in call_rows(batches[0], at)}
    for row in first:
        single = one[(row.subscriber, row.outcome, row.reason)]
        assert (row.records, row.bytes) == (150 * single.records, 150 * single.bytes)
        assert len(row.latencies_ms) == min(MAX_SAMPLES, 150 * len(single.latencies_ms))


def test_mariadb_events_name_the_database_where_postgres_names_the_schema() -> None:
    from streams.policy.envelope import source_key

    event = {"source": {"name": "cdc.hrss", "db": "dept_hrss", "schema": None, "table": "social_insurance"}}
    assert source_key(event) == ("cdc.hrss", "dept_hrss", "social_insurance")


def _variants(rng: random.Random) -> list[RawRecord]:
    """Every kind of event the router meets: inserts, reads, updates within and across districts
    and without a before-image, deletes, bad codes, unknown districts and columns, nulls,
    truncates, unknown sources, a conditional resource, undecodable bytes."""
    factory = RowFactory.for_settings(_settings(), seed=rng.randint(0, 1000))
    records: list[RawRecord] = []
    for i in range(600):
        r = factory.enterprise()
        row = {
            **r,
            "reg_capital": str(r["reg_capital"]),
            "established_on": (r["established_on"] - datetime(1970, 1, 1).date()).days,
            "created_at": r["created_at"].isoformat().replace("+00:00", "Z"),
            "updated_at": r["updated_at"].isoformat().replace("+00:00", "Z"),
        }
        moved = {**row, "district_code": factory.district(other_than=row["district_code"]).code}
        kind = rng.choice(
            [
                "c",
                "r",
                "u",
                "u-move",
                "u-nobefore",
                "d",
                "bad-usci",
                "region",
                "drift",
                "null-phone",
                "null-name",
                "t",
                "unknown",
                "cert",
                "json",
            ]
        )
        value: bytes
        if kind in ("c", "r"):
            value = event(kind, None, row)
        elif kind == "u":
            value = event("u", {**row, "status": "active"}, row)
        elif kind == "u-move":
            value = event("u", row, moved)
        elif kind == "u-nobefore":
            value = event("u", None, moved)
        elif kind == "d":
            value = event("d", row, None)
        elif kind == "bad-usci":
            value = event("c", None, {**row, "uscc": row["uscc"][:17] + "0"})
        elif kind == "region":
            value = event("c", None, {**row, "district_code": "999999"})
        elif kind == "drift":
            value = event("c", None, {**row, "new_column": 1})
        elif kind == "null-phone":
            value = event("c", None, {**row, "phone": None})
        elif kind == "null-name":
            value = event("c", None, {**row, "name": None})
        elif kind == "t":
            value = event("t", None, None)
        elif kind == "unknown":
            value = event("c", None, row, table="elsewhere")
        elif kind == "cert":
            c = factory.certificate(i)
            days = (c["registered_on"] - datetime(1970, 1, 1).date()).days
            cert = {
                **c,
                "area_m2": str(c["area_m2"]),
                "registered_on": days,
                "updated_at": c["updated_at"].isoformat().replace("+00:00", "Z"),
            }
            records.append(
                raw(
                    orjson.dumps(
                        {
                            "op": "c",
                            "before": None,
                            "after": cert,
                            "source": {
                                "name": "cdc.realestate",
                                "schema": "public",
                                "table": "certificate",
                                "ts_ms": 1,
                            },
                        }
                    ),
                    offset=i,
                    topic="cdc.realestate.public.certificate",
                )
            )
            continue
        else:
            value = b'{"op": "c", "after": [1]}'
        records.append(raw(value, offset=i))
    return records


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_lanes_route_exactly_as_the_general_path(book: SchemaBook, seed: int) -> None:
    """The same batch with and without the fast lanes: the same messages (topics, keys, bytes,
    headers but the dead letters' time) and the same counts."""
    records = _variants(random.Random(seed))
    checks = compile_checks(book.policy.catalog)
    fast = BatchRouter(book.policy, checks, book.encoder_for).route_batch(records, NOW)
    general = BatchRouter(book.policy, checks, book.encoder_for, lanes=False).route_batch(records, NOW)

    def comparable(m: Outgoing) -> tuple[object, ...]:
        return m.topic, m.key, m.value, sorted(h for h in m.headers if h[0] != H_FAILED_AT)

    assert [comparable(m) for m in fast.messages] == [comparable(m) for m in general.messages]
    assert {k: (a.records, a.bytes, sorted(a.source_ts_ms)) for k, a in fast.calls.items()} == {
        k: (a.records, a.bytes, sorted(a.source_ts_ms)) for k, a in general.calls.items()
    }
    assert any(m.topic.startswith("dlq.") for m in fast.messages)
    assert any(k.outcome == "withheld" for k in fast.calls)
    # Both paths were taken.
    lanes = lanes_at(book.policy, checks, NOW)
    taken = 0
    for rec in records:
        e = orjson.loads(rec.value or b"{}")
        src = e.get("source") if isinstance(e, dict) else None
        lane = lanes.get((src["name"], src["schema"], src["table"])) if isinstance(src, dict) else None
        taken += lane is not None and lane.decide(e, e["op"]) is not None
    assert 100 < taken < len(records) - 100
