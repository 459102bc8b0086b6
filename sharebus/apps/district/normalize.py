"""One canonical, JSON-able form per column kind, so a district row and the policy's projection of
a source row compare equal exactly when they hold the same data (dates as days, timestamps as
microseconds, decimals by value)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from schemas.writers import days, micros
from sharebus.apps.district.columns import Kind


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _decimal(value: Any) -> str:
    try:
        number = Decimal(value if isinstance(value, str | int) else str(value))
    except InvalidOperation:
        return _text(value)  # a masked value in a decimal field: compared as text
    return format(number.normalize(), "f") if number else "0"


def _boolean(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    return {"true": True, "t": True, "false": False, "f": False}.get(str(value).lower(), str(value))


def normalize(kind: Kind, value: Any) -> Any:
    """`value` (from Avro, SQL or the policy's Debezium-form dict) in the canonical form of `kind`."""
    if value is None:
        return None
    try:
        if kind is Kind.TEXT:
            return _text(value)
        if kind is Kind.NUMERIC:
            return _decimal(value)
        if kind is Kind.DATE:
            return days(value.date() if isinstance(value, datetime) else value)
        if kind is Kind.TIMESTAMPTZ:
            return micros(datetime.fromisoformat(value) if isinstance(value, str) else value)
        if kind is Kind.BIGINT:
            return int(value)
        if kind is Kind.DOUBLE:
            return float(value)
        return _boolean(value)
    except (TypeError, ValueError):
        return _text(value)  # not of its kind at all: still compared, as text


def row_values(kinds: Mapping[str, Kind], fields: Sequence[str], row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(normalize(kinds[f], row.get(f)) for f in fields)


def key_of(kinds: Mapping[str, Kind], keys: Sequence[str], row: Mapping[str, Any]) -> bytes:
    """A row's key, canonical and hashable (the same for the district row and the projection)."""
    return orjson.dumps([normalize(kinds[k], row.get(k)) for k in keys])


def digest(values: tuple[Any, ...]) -> bytes:
    """The per-row hash compared by key."""
    return hashlib.blake2b(orjson.dumps(values), digest_size=16).digest()
