"""Avro record schemas as district columns, and their evolution into SQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg import sql

from schemas.derive import value_schema
from sharebus.apps.district.columns import Column, Kind, columns_of, create_table, evolve, kind_of
from sharebus.apps.district.errors import SchemaEvolutionError
from sharebus.apps.district.naming import default_schema, department_of, safe_identifier, table_name
from sharebus.catalog.load import load_catalog

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(REPO / "catalog" / "chongqing")


def _text(composed: sql.Composable) -> str:
    return composed.as_string()  # psycopg >= 3.2 quotes without a connection


def test_each_derived_type_has_its_column_kind() -> None:
    enterprise = CATALOG.resource("market.enterprise")
    assert enterprise is not None
    kinds = {c.name: c.kind for c in columns_of(value_schema("chongqing", enterprise), "t")}
    assert kinds["uscc"] is Kind.TEXT and kinds["district_code"] is Kind.TEXT
    assert kinds["reg_capital"] is Kind.NUMERIC  # a decimal in clear
    assert kinds["established_on"] is Kind.DATE and kinds["created_at"] is Kind.TIMESTAMPTZ
    assert kinds["legal_rep_id"] is Kind.TEXT
    assert kind_of({"name": "x", "type": ["null", "long"]}) is Kind.BIGINT
    assert kind_of({"name": "x", "type": ["null", "double"]}) is Kind.DOUBLE
    assert kind_of({"name": "x", "type": "boolean"}) is Kind.BOOLEAN
    masked = {"name": "x", "type": ["null", "string"], "sharebus.type": "decimal", "sharebus.mask": "name"}
    assert kind_of(masked) is Kind.TEXT  # a masked decimal is text


def test_key_fields_are_the_non_nullable_ones_and_become_the_primary_key() -> None:
    certificate = CATALOG.resource("realestate.certificate")
    assert certificate is not None
    cols = columns_of(value_schema("chongqing", certificate, ["cert_no", "area_m2", "district_code"]), "t")
    assert [c.name for c in cols if c.key] == ["cert_no"]
    ddl = _text(create_table("share_500103", "realestate_certificate", cols))
    assert ddl.startswith('CREATE TABLE IF NOT EXISTS "share_500103"."realestate_certificate" (')
    assert '"area_m2" numeric' in ddl and '"sharebus_policy_version" text' in ddl
    assert ddl.endswith('PRIMARY KEY ("cert_no"))')


def test_an_added_field_is_added_and_a_masked_one_widens_to_text() -> None:
    existing = {"id": "text", "amount": "numeric", "note": "text", "sharebus_offset": "bigint"}
    wanted = [
        Column("id", Kind.TEXT, True),
        Column("amount", Kind.TEXT, False),
        Column("note", Kind.TEXT, False),
        Column("employees", Kind.BIGINT, False),
    ]
    ddl, after = evolve("s", "t", existing, ["id"], wanted)
    assert [_text(d) for d in ddl] == [
        'ALTER TABLE "s"."t" ALTER COLUMN "amount" TYPE text USING "amount"::text',
        'ALTER TABLE "s"."t" ADD COLUMN "employees" bigint',
    ]
    assert after["employees"] == "bigint" and after["amount"] == "text"
    again, _ = evolve("s", "t", after, ["id"], wanted)
    assert again == []  # idempotent
    narrower, _ = evolve("s", "t", after, ["id"], [Column("id", Kind.TEXT, True)])
    assert narrower == []  # fields no longer delivered keep their columns (written NULL)


def test_a_changed_key_or_a_reserved_field_name_is_refused() -> None:
    with pytest.raises(SchemaEvolutionError, match="the record key changed"):
        evolve("s", "t", {"id": "text"}, ["id"], [Column("other", Kind.TEXT, True)])
    schema = {"type": "record", "name": "R", "fields": [{"name": "sharebus_offset", "type": "long"}]}
    with pytest.raises(SchemaEvolutionError, match="lineage columns"):
        columns_of(schema, "schema 7")


def test_names_of_topics_schemas_and_tables() -> None:
    assert department_of("share.500101.market", "500101") == "market"
    assert department_of("share.5001011.market", "500101") is None
    assert department_of("share.500101.market.enterprise", "500101") is None  # the per-resource layout
    assert department_of("share.500101", "500101") is None
    assert default_schema("civil-affairs") == "share_civil_affairs"
    assert table_name("market.enterprise") == "market_enterprise"
    assert table_name("district_500103.assistance-household") == "district_500103_assistance_household"
    long = safe_identifier("d" * 80)
    assert len(long) == 63 and long != safe_identifier("d" * 81)
    assert safe_identifier("9abc") == "t_9abc"
