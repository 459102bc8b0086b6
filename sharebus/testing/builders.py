"""Builders of what the bus reads: Debezium change events, raw records and sample rows, in the
shape Debezium's JSON converter writes them (for tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from sharebus.core import naming
from sharebus.core.gbcodes import resident_id_check_char, usci_check_char
from streams.router.records import RawRecord

EPOCH = date(1970, 1, 1)

# Codes of a valid Chongqing enterprise: their check characters computed, never typed.
USCC = "91500103MA5U00001" + usci_check_char("91500103MA5U00001")
RESIDENT_ID = "50010319800101123" + resident_id_check_char("50010319800101123")


def debezium_event(
    op: str | None,
    before: Any = None,
    after: Any = None,
    *,
    table: str = "enterprise",
    department: str = "market",
    schema: str | None = "public",
    db: str | None = None,
    name: str | None = None,
    connector: str = "postgresql",
    lsn: int = 1,
    tx_id: int = 1,
    ts_ms: int = 0,
    snapshot: str | None = "false",
) -> dict[str, Any]:
    """A Debezium change event (the envelope with `source`): `name` defaults to the department's
    raw prefix (`cdc.<department>`), `db` to `dept_<department>`."""
    source: dict[str, Any] = {
        "connector": connector,
        "name": name if name is not None else naming.raw_prefix(department),
        "db": db if db is not None else f"dept_{department}",
        "schema": schema,
        "table": table,
        "lsn": lsn,
        "txId": tx_id,
        "ts_ms": ts_ms,
    }
    if snapshot is not None:
        source["snapshot"] = snapshot
    return {"before": before, "after": after, "source": source, "op": op, "ts_ms": ts_ms}


def debezium_bytes(op: str | None, before: Any = None, after: Any = None, **source: Any) -> bytes:
    """`debezium_event(...)` as the bytes on a raw topic."""
    return orjson.dumps(debezium_event(op, before, after, **source))


def raw_record(
    value: bytes | None,
    *,
    offset: int = 10,
    topic: str | None = None,
    key: bytes | None = b'{"uscc":"x"}',
    partition: int = 0,
    timestamp_ms: int = 0,
) -> RawRecord:
    """A record read from a raw topic (default `cdc.market`, the market department's)."""
    return RawRecord(
        topic or naming.raw_topic(naming.raw_prefix("market")), partition, offset, key, value, timestamp_ms
    )


def as_debezium_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A database row (as the sample generator makes it) as Debezium's JSON converter writes it:
    dates as days since the epoch, timestamps as UTC ISO text, decimals as their digits."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        if isinstance(value, datetime):
            out[column] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            out[column] = (value - EPOCH).days
        elif isinstance(value, Decimal):
            out[column] = str(value)
        else:
            out[column] = value
    return out


def sample_enterprise(**changes: Any) -> dict[str, Any]:
    """A valid row of `market.enterprise` (Chongqing, 渝中区) as Debezium sends it; `changes`
    replace columns, and a column set to `...` is left out."""
    row: dict[str, Any] = {
        "uscc": USCC,
        "name": "重庆示例科技有限公司",
        "legal_rep_name": "张三",
        "legal_rep_id": RESIDENT_ID,
        "phone": "13812345678",
        "address": "重庆市渝中区民族路1号",
        "district_code": "500103",
        "reg_capital": "1000000.00",
        "status": "active",
        "established_on": 19000,
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T08:00:00.123456+08:00",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}
