"""The Avro contract derived from the catalog: naming, type mapping, nullability, masks, key
schema, the checked-in base schemas, and evolution (an added field stays BACKWARD compatible)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.compat import backward_problems
from schemas.derive import (
    MASK_PROPERTY,
    TYPE_PROPERTY,
    base_schema,
    record_fullname,
    record_name,
    share_subject,
    value_schema,
)
from schemas.generate import SCHEMA_DIR, avsc_text, stale_files
from sharebus.catalog.models import Catalog, Resource
from sharebus.core.errors import ConfigError
from streams.policy import compile_policy

REPO = Path(__file__).resolve().parents[2]
KEY = b"test-pseudonym-key-32-bytes-long"


@pytest.fixture(scope="module")
def chongqing(chongqing_catalog: Catalog) -> Catalog:
    return chongqing_catalog


def _resource(fields: list[dict[str, Any]], **extra: Any) -> Resource:
    return Resource.model_validate(
        {
            "id": "land_dept.use_plan-item",
            "title": "用地规划",
            "department": "land_dept",
            "source": {"connector": "cdc.land_dept", "table": "public.plan"},
            "primary_key": ["id"],
            "sharing": "unconditional",
            "update_frequency": "daily",
            "fields": [{"name": "id", "type": "integer", "grade": "internal"}, *fields],
            **extra,
        }
    )


def _by_name(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in schema["fields"]}


def _roundtrip(writer: dict[str, Any], reader: dict[str, Any], record: dict[str, Any]) -> Any:
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(writer), record)
    buf.seek(0)
    return schemaless_reader(buf, parse_schema(writer), parse_schema(reader))


def test_names_are_stable_avro_names_per_resource() -> None:
    res = _resource([])
    schema = value_schema("da-xian", res)
    assert schema["name"] == "UsePlanItem" == record_name(res)
    assert schema["namespace"] == "sharebus.da_xian.land_dept"
    assert record_fullname("da-xian", res) == "sharebus.da_xian.land_dept.UsePlanItem"
    assert share_subject("da-xian", res) == "sharebus.da_xian.land_dept.UsePlanItem"  # RecordNameStrategy
    parse_schema(schema)  # a valid Avro schema


def test_types_follow_the_catalog_and_non_key_fields_are_nullable() -> None:
    res = _resource(
        [
            {"name": "title", "type": "string", "grade": "public", "description": "标题"},
            {"name": "amount", "type": "decimal", "grade": "public"},
            {"name": "ratio", "type": "float", "grade": "public"},
            {"name": "open", "type": "boolean", "grade": "public"},
            {"name": "on_day", "type": "date", "grade": "public"},
            {"name": "at", "type": "timestamp", "grade": "internal"},
        ]
    )
    fields = _by_name(value_schema("c", res))
    assert fields["id"]["type"] == "long" and "default" not in fields["id"]
    expected = {
        "title": "string",
        "amount": "string",
        "ratio": "double",
        "open": "boolean",
        "on_day": {"type": "int", "logicalType": "date"},
        "at": {"type": "long", "logicalType": "timestamp-micros"},
    }
    for name, avro in expected.items():
        assert fields[name]["type"] == ["null", avro], name
        assert fields[name]["default"] is None
    assert fields["amount"][TYPE_PROPERTY] == "decimal"
    assert fields["title"]["doc"] == "标题"


def test_secret_fields_never_appear_and_cannot_be_requested() -> None:
    res = _resource([{"name": "finding", "type": "string", "grade": "secret"}])
    assert "finding" not in _by_name(base_schema("c", res))
    with pytest.raises(ConfigError, match="secret"):
        value_schema("c", res, ["id", "finding"])
    with pytest.raises(ConfigError, match="does not have"):
        value_schema("c", res, ["id", "nope"])


def test_sensitive_fields_are_strings_masked_or_in_clear() -> None:
    res = _resource([{"name": "phone", "type": "integer", "grade": "sensitive", "mask": "phone"}])
    masked = _by_name(value_schema("c", res, ["id", "phone"], masked=["phone"]))["phone"]
    clear = _by_name(value_schema("c", res, ["id", "phone"]))["phone"]
    assert masked["type"] == clear["type"] == ["null", "string"]
    assert masked[MASK_PROPERTY] == "phone" and MASK_PROPERTY not in clear
    # Granting or withdrawing clear access never breaks the topic's readers.
    old = value_schema("c", res, ["id", "phone"], masked=["phone"])
    new = value_schema("c", res, ["id", "phone"])
    assert backward_problems(new, old) == [] and backward_problems(old, new) == []


def test_projection_keeps_catalog_order_and_key_fields_non_null(chongqing: Catalog) -> None:
    policy = compile_policy(chongqing, pseudonym_key=KEY)
    ents = {(e.subscriber, e.resource): e for e in policy.entitlements(datetime(2026, 1, 1, tzinfo=UTC))}
    ent = ents[("500105", "realestate.certificate")]
    res = chongqing.resource(ent.resource)
    assert res is not None
    schema = value_schema("chongqing", res, ent.fields, ent.masked)
    assert [f["name"] for f in schema["fields"]] == list(ent.fields)
    fields = _by_name(schema)
    assert fields["cert_no"]["type"] == "string"
    assert fields["owner_id"][MASK_PROPERTY] == "pseudonym"
    assert set(ent.masked) == {f["name"] for f in schema["fields"] if MASK_PROPERTY in f}


def test_checked_in_avsc_files_match_the_catalogs() -> None:
    stale = stale_files(REPO / "catalog")
    assert stale == [], f"stale schemas/*.avsc {stale}: run `python -m schemas.generate`"
    assert (SCHEMA_DIR / "chongqing.market.enterprise.avsc").exists()
    assert not (SCHEMA_DIR / "chongqing.market.inspection.avsc").exists()  # not shared


def test_avsc_text_is_indented_unicode_json() -> None:
    text = avsc_text({"doc": "企业"})
    assert text == '{\n  "doc": "企业"\n}\n'


# --- evolution ------------------------------------------------------------------------------------
def test_an_added_catalog_field_is_backward_and_forward_compatible() -> None:
    old_res = _resource([{"name": "title", "type": "string", "grade": "public"}])
    new_res = _resource(
        [
            {"name": "title", "type": "string", "grade": "public"},
            {"name": "area", "type": "decimal", "grade": "public"},
        ]
    )
    old, new = base_schema("c", old_res), base_schema("c", new_res)
    assert backward_problems(new, old) == []
    # New readers of old data get null for the new field.
    assert _roundtrip(old, new, {"id": 1, "title": "a"}) == {"id": 1, "title": "a", "area": None}
    # Old readers of new data skip the new field.
    assert _roundtrip(new, old, {"id": 1, "title": "a", "area": "12.5"}) == {"id": 1, "title": "a"}


def test_breaking_changes_are_detected() -> None:
    old = base_schema("c", _resource([{"name": "n", "type": "integer", "grade": "public"}]))
    retyped = base_schema("c", _resource([{"name": "n", "type": "boolean", "grade": "public"}]))
    assert backward_problems(retyped, old)
    required = dict(old, fields=[*old["fields"], {"name": "extra", "type": "string"}])
    assert any("without a default" in p for p in backward_problems(required, old))
    renamed = dict(old, name="Other")
    assert any("record" in p for p in backward_problems(renamed, old))
