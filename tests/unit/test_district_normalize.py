"""Canonical values: a district row and the policy's projection compare equal exactly when they
hold the same data, whatever form each side has it in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from sharebus.apps.district.columns import Kind
from sharebus.apps.district.normalize import digest, key_of, normalize
from sharebus.apps.district.source_rows import debezium_value
from sharebus.apps.district.store import to_column
from sharebus.catalog.models import FieldType


def test_dates_timestamps_and_decimals_compare_by_value() -> None:
    assert normalize(Kind.DATE, 19000) == normalize(Kind.DATE, date(2022, 1, 8)) == 19000
    instant = datetime(2025, 1, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    assert normalize(Kind.TIMESTAMPTZ, "2025-01-01T00:00:00.123456Z") == normalize(Kind.TIMESTAMPTZ, instant)
    assert normalize(Kind.NUMERIC, "1000000.00") == normalize(Kind.NUMERIC, Decimal("1000000")) == "1000000"
    assert normalize(Kind.NUMERIC, "0.00") == normalize(Kind.NUMERIC, Decimal(0)) == "0"
    assert normalize(Kind.NUMERIC, "****") == "****"  # a masked value stays text
    assert normalize(Kind.TEXT, 12) == "12" and normalize(Kind.TEXT, True) == "true"
    assert normalize(Kind.BOOLEAN, "true") is True and normalize(Kind.BIGINT, 7) == 7
    assert normalize(Kind.DATE, None) is None


def test_rows_hash_and_keys_are_canonical() -> None:
    kinds = {"id": Kind.DATE, "amount": Kind.NUMERIC}
    assert key_of(kinds, ["id"], {"id": 1}) == key_of(kinds, ["id"], {"id": date(1970, 1, 2)})
    assert digest(("a", 1)) == digest(("a", 1)) != digest(("a", 2))


def test_source_values_take_debeziums_json_form() -> None:
    ts = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert debezium_value(FieldType.TIMESTAMP, ts) == "2025-03-01T12:00:00Z"
    assert debezium_value(FieldType.TIMESTAMP, ts.replace(tzinfo=None)) == "2025-03-01T12:00:00Z"
    assert debezium_value(FieldType.DATE, date(1970, 1, 11)) == 10
    assert debezium_value(FieldType.DECIMAL, Decimal("12.50")) == "12.50"
    assert debezium_value(FieldType.BOOLEAN, 1) is True
    assert debezium_value(FieldType.STRING, "500101") == "500101"
    assert debezium_value(None, Decimal("1E+2")) == "100"
    assert debezium_value(FieldType.INTEGER, None) is None


def test_decoded_values_fit_their_columns() -> None:
    assert to_column("date", 10) == date(1970, 1, 11)  # a date key in its JSON form
    assert to_column("timestamp with time zone", "2025-01-01T00:00:00Z") == datetime(2025, 1, 1, tzinfo=UTC)
    assert to_column("numeric", "12.50") == Decimal("12.50")
    assert to_column("text", date(2025, 1, 2)) == "2025-01-02"  # a widened column
    assert to_column("text", False) == "false" and to_column("bigint", None) is None
