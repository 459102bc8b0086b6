"""The record key of a subscriber topic: the resource and the source primary key, one compact JSON object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

RESOURCE_FIELD = "resource"
KEY_FIELD = "key"


def key_bytes(key: Mapping[str, Any]) -> bytes:
    """`{"<pk field>":<value>,…}` in primary-key order, compact, UTF-8, non-ASCII unescaped:
    the same bytes Debezium's JsonConverter (schemas disabled) writes for the source row's key.

    Must hold: a row's key bytes never change while its topic lives (compaction and tombstones
    match keys byte for byte). So keys are not Avro: Avro keys would embed a registry id, and a
    registry rebuilt with other ids would silently split every row's history in two.
    """
    return orjson.dumps(dict(key))


def key_prefix(resource: str) -> bytes:
    """What every key of `resource` starts with: `share_key` is `key_prefix + pk + b"}"`."""
    return (
        b'{"' + RESOURCE_FIELD.encode() + b'":' + orjson.dumps(resource) + b',"' + KEY_FIELD.encode() + b'":'
    )


def wrap_key(prefix: bytes, pk: bytes) -> bytes:
    """The subscriber-topic key from a resource's `key_prefix` and the source key bytes (the
    router's hot path: Debezium's key bytes are kept as they are)."""
    return prefix + pk + b"}"


def share_key(resource: str, key: Mapping[str, Any]) -> bytes:
    """`{"resource":"<resource id>","key":{<primary key>}}`: one topic carries many resources
    (a department's, for one subscriber), so two resources' rows with equal primary keys must
    not compact into one. The same bytes as the router's `wrap_key` of Debezium's key."""
    return wrap_key(key_prefix(resource), key_bytes(key))


def key_from_bytes(data: bytes) -> dict[str, Any]:
    """The primary key of a source key (Debezium's bytes; the per-resource layout's keys)."""
    value = orjson.loads(data)
    if not isinstance(value, dict):
        raise ValueError(f"a key is a JSON object, got {type(value).__name__}")
    return value


def parse_share_key(data: bytes) -> tuple[str, dict[str, Any]]:
    """(resource, primary key) of a subscriber-topic key (what a consumer of the topic does)."""
    value = key_from_bytes(data)
    resource, key = value.get(RESOURCE_FIELD), value.get(KEY_FIELD)
    if not isinstance(resource, str) or not isinstance(key, dict) or len(value) != 2:
        raise ValueError('a subscriber-topic key is {"resource": "<id>", "key": {<primary key>}}')
    return resource, key
