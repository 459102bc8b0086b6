"""The record key of a subscriber topic: the source primary key as one compact JSON object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


def key_bytes(key: Mapping[str, Any]) -> bytes:
    """`{"<pk field>":<value>,…}` in primary-key order, compact, UTF-8, non-ASCII unescaped:
    the same bytes Debezium's JsonConverter (schemas disabled) writes for the source row's key.

    Must hold: a row's key bytes never change while its topic lives (compaction and tombstones
    match keys byte for byte). So keys are not Avro: Avro keys would embed a registry id, and a
    registry rebuilt with other ids would silently split every row's history in two.
    """
    return orjson.dumps(dict(key))


def key_from_bytes(data: bytes) -> dict[str, Any]:
    """The primary key of a message key (what a consumer of the topic does)."""
    value = orjson.loads(data)
    if not isinstance(value, dict):
        raise ValueError(f"a key is a JSON object, got {type(value).__name__}")
    return value
