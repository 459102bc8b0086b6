"""The encoder: Confluent wire format, byte-identical Avro bodies to fastavro, conversions from
Debezium JSON, errors naming the field, and the schema book registering each schema once."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.derive import value_schema
from schemas.encoder import Encoder, SchemaBook
from schemas.errors import EncodeError, SchemaBookError
from schemas.keys import key_bytes, key_from_bytes, key_prefix, parse_share_key, share_key, wrap_key
from schemas.registry_client import RegistryClient
from schemas.registry_server import BackgroundServer, memory_registry
from schemas.wire import header, split
from schemas.writers import zigzag_varint
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Resource
from sharebus.testing.registry import IdRegistry
from streams.policy import Policy, compile_policy
from streams.policy.results import masked_values

REPO = Path(__file__).resolve().parents[2]
KEY = b"test-pseudonym-key-32-bytes-long"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENTERPRISE = ("500101", "market.enterprise")
TOPIC = "share.500101.market"
ROW = {
    "uscc": "91500101MA5U7X8Y9Z",
    "name": "重庆某某科技有限公司",
    "legal_rep_name": "张*",
    "legal_rep_id": "500101************",
    "phone": "138****5678",
    "address": "重庆市渝中区****",
    "district_code": "500101",
    "reg_capital": "1000000.00",
    "status": "active",
    "established_on": 19000,
    "created_at": "2024-03-01T08:15:30.123456Z",
    "updated_at": "2024-03-01T16:15:30+08:00",
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return compile_policy(load_catalog(REPO / "catalog" / "chongqing"), pseudonym_key=KEY)


@pytest.fixture
def registry() -> Iterator[BackgroundServer]:
    server = BackgroundServer(memory_registry())
    yield server
    server.stop()


def _resource() -> Resource:
    return Resource.model_validate(
        {
            "id": "dept.thing",
            "title": "t",
            "department": "dept",
            "source": {"connector": "cdc.dept", "table": "public.thing"},
            "primary_key": ["id"],
            "sharing": "unconditional",
            "update_frequency": "daily",
            "fields": [
                {"name": "id", "type": "integer", "grade": "internal"},
                {"name": "s", "type": "string", "grade": "public"},
                {"name": "n", "type": "integer", "grade": "public"},
                {"name": "x", "type": "float", "grade": "public"},
                {"name": "b", "type": "boolean", "grade": "public"},
                {"name": "d", "type": "date", "grade": "public"},
                {"name": "t", "type": "timestamp", "grade": "public"},
                {"name": "m", "type": "decimal", "grade": "public"},
                {"name": "p", "type": "integer", "grade": "sensitive", "mask": "phone"},
            ],
        }
    )


def _fastavro(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(schema), record)
    return buf.getvalue()


def _read(schema: dict[str, Any], body: bytes) -> Any:
    return schemaless_reader(io.BytesIO(body), parse_schema(schema))


def test_wire_header_is_magic_zero_and_big_endian_id() -> None:
    assert header(1) == b"\x00\x00\x00\x00\x01"
    assert header(0x01020304) == b"\x00\x01\x02\x03\x04"
    assert split(b"\x00\x00\x00\x01\x00rest") == (256, b"rest")
    with pytest.raises(ValueError, match="magic"):
        split(b"\x01\x00\x00\x00\x01")
    with pytest.raises(ValueError, match="shorter"):
        split(b"\x00\x00")


def test_varints_match_the_avro_specification() -> None:
    encoded = [zigzag_varint(n) for n in (0, -1, 1, -64, 64)]
    assert encoded == [b"\x00", b"\x01", b"\x02", b"\x7f", b"\x80\x01"]
    assert zigzag_varint(2**63 - 1) == b"\xfe" + b"\xff" * 8 + b"\x01"
    with pytest.raises(OverflowError):
        zigzag_varint(2**63)


def test_bodies_are_byte_identical_to_fastavro() -> None:
    schema = value_schema("c", _resource())
    encoder = Encoder("topic", "topic-value", 42, schema)
    rng = random.Random(7)
    for _ in range(500):
        record = {
            "id": rng.randint(-(2**63), 2**63 - 1),
            "s": rng.choice([None, "", "重庆", "x" * rng.randint(0, 20000)]),
            "n": rng.choice([None, rng.randint(-(2**40), 2**40)]),
            "x": rng.choice([None, rng.uniform(-1e9, 1e9)]),
            "b": rng.choice([None, True, False]),
            "d": rng.choice([None, rng.randint(-30000, 30000)]),
            "t": rng.choice([None, rng.randint(-(2**62), 2**62)]),
            "m": rng.choice([None, "-12345.678"]),
            "p": rng.choice([None, "138****5678"]),
        }
        message = encoder.encode(record)
        assert message[:5] == header(42)
        assert message[5:] == _fastavro(schema, record)


def test_debezium_values_are_converted() -> None:
    schema = value_schema("c", _resource())
    encoder = Encoder("topic", "topic-value", 1, schema)
    record = {"id": 1, "d": "2024-03-01", "t": "2024-03-01T16:15:30.5+08:00", "m": Decimal("1.50")}
    record["p"] = 13800  # a sensitive number in clear: delivered as text
    decoded = _read(schema, split(encoder.encode(record))[1])
    assert decoded["d"] == date(2024, 3, 1)
    assert decoded["t"] == datetime(2024, 3, 1, 8, 15, 30, 500000, tzinfo=UTC)
    assert decoded["m"] == "1.50" and decoded["p"] == "13800"
    aware = datetime(2024, 3, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    again = _read(schema, split(encoder.encode({"id": 1, "t": aware, "d": date(1969, 12, 31)}))[1])
    assert again["t"] == aware and again["d"] == date(1969, 12, 31)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("id", None, "integer"),
        ("n", "12", "integer"),
        ("b", 1, "boolean"),
        ("t", "2024-03-01T08:15:30", "zone"),
        ("t", "yesterday", "isoformat"),
        ("s", ["a"], "text"),
    ],
)
def test_a_value_that_does_not_fit_names_its_field(field: str, value: Any, needle: str) -> None:
    encoder = Encoder("share.a.dept.thing", "s", 1, value_schema("c", _resource()))
    with pytest.raises(EncodeError) as info:
        encoder.encode({"id": 1, field: value})
    assert f"share.a.dept.thing field {field}" in str(info.value)
    assert needle in str(info.value)


def test_encode_many_equals_encode_each() -> None:
    encoder = Encoder("t", "t-value", 3, value_schema("c", _resource()))
    values = [{"id": i, "s": str(i)} for i in range(10)]
    assert encoder.encode_many(values) == [encoder.encode(v) for v in values]


def test_schema_book_registers_once_and_shares_identical_projections(
    policy: Policy, registry: BackgroundServer
) -> None:
    client = RegistryClient(registry.url)
    book = SchemaBook(client, policy)
    ent = book.entitlement(*ENTERPRISE, NOW)
    first = book.encoder_for(*ENTERPRISE, ent.demand_id)
    assert book.encoder_for(*ENTERPRISE, ent.demand_id) is first
    neighbour = book.encoder_for("500102", "market.enterprise", "CQ-2025-0001/500102")
    assert neighbour.schema_id == first.schema_id  # same projection → same schema, same id
    assert neighbour.subject == first.subject == "sharebus.chongqing.market.Enterprise"
    assert neighbour is first  # one encoder per projection, whichever district receives it
    assert requests.get(f"{registry.url}/subjects/{first.subject}/versions").json() == [1]
    message = first.encode({f: ROW[f] for f in ent.fields})
    schema_id, body = split(message)
    served = json.loads(requests.get(f"{registry.url}/schemas/ids/{schema_id}").json()["schema"])
    decoded = _read(served, body)
    assert decoded["uscc"] == ROW["uscc"]
    assert decoded["updated_at"] == datetime(2024, 3, 1, 8, 15, 30, tzinfo=UTC)


def test_schema_book_without_demand_uses_the_projection_in_force(
    policy: Policy, registry: BackgroundServer
) -> None:
    book = SchemaBook(RegistryClient(registry.url), policy)
    current = book.encoder_for(*ENTERPRISE)
    assert current is book.encoder_for(*ENTERPRISE)  # cached until the next validity boundary
    assert current is book.encoder_for(*ENTERPRISE, book.entitlement(*ENTERPRISE).demand_id)
    with pytest.raises(SchemaBookError, match="no projection under demand"):
        book.encoder_for(*ENTERPRISE, "no-such-demand")
    with pytest.raises(SchemaBookError, match="no projection in force"):
        book.encoder_for("nobody", "market.enterprise")
    assert book.prepare(NOW) == len(policy.entitlements(NOW))


def test_keys_are_the_resource_and_the_primary_key_as_debezium_json() -> None:
    assert key_bytes({"uscc": "91500101MA5U7X8Y9Z"}) == b'{"uscc":"91500101MA5U7X8Y9Z"}'
    assert key_bytes({"a": 1, "b": "重庆"}) == '{"a":1,"b":"重庆"}'.encode()
    assert key_from_bytes(b'{"a":1}') == {"a": 1}
    with pytest.raises(ValueError, match="JSON object"):
        key_from_bytes(b"[1]")
    key = share_key("market.enterprise", {"uscc": "9150"})
    assert key == b'{"resource":"market.enterprise","key":{"uscc":"9150"}}'
    assert key == wrap_key(key_prefix("market.enterprise"), b'{"uscc":"9150"}')  # the router's way
    assert parse_share_key(key) == ("market.enterprise", {"uscc": "9150"})
    with pytest.raises(ValueError, match="subscriber-topic key"):
        parse_share_key(b'{"uscc":"9150"}')


def test_confluent_avro_deserializer_reads_the_topics(policy: Policy, registry: BackgroundServer) -> None:
    """What districts run: confluent-kafka's SchemaRegistryClient + AvroDeserializer."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    book = SchemaBook(RegistryClient(registry.url), policy)
    ent = book.entitlement(*ENTERPRISE, NOW)
    encoder = book.encoder_for(*ENTERPRISE, ent.demand_id)
    value = encoder.encode({f: ROW[f] for f in ent.fields})
    client = SchemaRegistryClient({"url": registry.url})
    deserialize = AvroDeserializer(client)
    decoded = deserialize(value, SerializationContext(TOPIC, MessageField.VALUE))
    assert decoded is not None and decoded["name"] == ROW["name"]
    assert decoded["created_at"] == datetime(2024, 3, 1, 8, 15, 30, 123456, tzinfo=UTC)


def test_confluent_record_name_strategy_finds_the_routers_subjects(
    policy: Policy, registry: BackgroundServer
) -> None:
    """A producer with confluent-kafka's `record_subject_name_strategy` (no auto-register)
    finds the schema the router registered: same subject, same id."""
    from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    book = SchemaBook(RegistryClient(registry.url), policy)
    ent = book.entitlement(*ENTERPRISE, NOW)
    encoder = book.encoder_for(*ENTERPRISE, ent.demand_id)
    serialize = AvroSerializer(
        SchemaRegistryClient({"url": registry.url}),
        json.dumps(encoder.schema),
        conf={"auto.register.schemas": False, "subject.name.strategy": record_subject_name_strategy},
    )
    row = {f: ROW[f] for f in ent.fields}
    row["created_at"] = datetime(2024, 3, 1, 8, 15, 30, 123456, tzinfo=UTC)
    row["updated_at"] = datetime(2024, 3, 1, 8, 15, 30, tzinfo=UTC)
    theirs = serialize(row, SerializationContext(TOPIC, MessageField.VALUE))
    assert theirs is not None and split(theirs)[0] == encoder.schema_id


def test_row_writer_equals_encoding_the_projection() -> None:
    """The generated writer reads the row (masked fields from the masked values) and writes the
    bytes `encode` writes for the projected dict, for every type and edge of the varints."""
    resource = _resource()
    rng = random.Random(11)
    for masked in ((), ("p",)):
        schema = value_schema("c", resource, masked=masked)
        encoder = Encoder("topic", "topic-value", 7, schema)
        for _ in range(500):
            row = {
                "id": rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randint(-(2**63), 2**63 - 1)]),
                "s": rng.choice([None, "", "重庆", 12, 1.5, True, "x" * rng.randint(0, 9000)]),
                "n": rng.choice(
                    [None, 8191, 8192, 2**27, 2**41, 2**55, -(2**55) - 1, rng.randint(-(2**62), 2**62)]
                ),
                "x": rng.choice([None, 3, rng.uniform(-1e9, 1e9)]),
                "b": rng.choice([None, True, False]),
                "d": rng.choice([None, rng.randint(-30000, 30000), "2024-02-29", date(1969, 12, 31)]),
                "t": rng.choice([None, "2024-03-01T16:15:30.5+08:00", "1969-07-20T20:17:40Z", 2**52, -5]),
                "m": rng.choice([None, "-12345.678", Decimal("1.50")]),
                "p": rng.choice([None, "13812345678", 13800]),
            }
            masks = {"p": rng.choice([None, "138****5678"])}
            projected = {**row, **(masks if masked else {})}
            assert encoder.encode_row(row, masks) == encoder.encode(projected)


def test_row_writer_errors_name_the_field() -> None:
    encoder = Encoder("share.a.dept.thing", "s", 1, value_schema("c", _resource()))
    with pytest.raises(EncodeError, match=r"share\.a\.dept\.thing field t"):
        encoder.encode_row({"id": 1, "t": "2024-03-01T08:15:30"}, {})
    with pytest.raises(EncodeError, match=r"share\.a\.dept\.thing field n"):
        encoder.encode_row({"id": 1, "n": 2**63}, {})


_SAMPLE_VALUES = {
    "string": "重庆市渝中区解放碑街道1号",
    "integer": 42,
    "decimal": "12.50",
    "float": 1.5,
    "boolean": True,
    "date": 19000,
    "timestamp": "2024-03-01T16:15:30.5+08:00",
}


@pytest.mark.parametrize("city", ["chongqing", "zhuzhou"])
def test_every_sample_projection_encodes_rows_as_its_dicts(city: str) -> None:
    """Through the policy, every projection of every resource: the bytes of `encode_row` are
    those of `encode(delivery.value)`."""
    policy = compile_policy(load_catalog(REPO / "catalog" / city), pseudonym_key=KEY)
    book = SchemaBook(IdRegistry(), policy)  # type: ignore[arg-type]
    now = datetime(2026, 6, 1, tzinfo=UTC)
    checked = 0
    for res in policy.catalog.resources:
        schema, _, table = res.source.table.partition(".")
        source = {"name": res.source.connector, "schema": schema, "table": table}
        for code in policy.resources[res.id].districts:
            row = {f.name: _SAMPLE_VALUES[f.type.value] for f in res.fields}
            if res.region_field is not None:
                row[res.region_field] = code
            event = {"op": "c", "after": row, "source": source}
            decision, routed = policy.decide(event, now), policy.route(event, now)
            masked = masked_values(decision.masks, row)
            for delivery in routed.deliveries:
                encoder = book.encoder_for(delivery.subscriber, delivery.resource, delivery.demand_id)
                assert delivery.value is not None
                assert encoder.encode_row(row, masked) == encoder.encode(delivery.value), delivery.topic
                checked += 1
    assert checked > 0
