"""Decode subscriber-topic values: the Confluent wire format, writer schemas fetched from the
registry by id (cached: an id's schema never changes), Avro bodies read with fastavro."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping
from typing import Any

import fastavro

from schemas.registry_client import RegistryClient
from schemas.wire import split
from sharebus.apps.district.errors import SyncError


class WriterSchema:
    """One registered schema: its JSON (for columns) and its parsed form (for reading)."""

    __slots__ = ("id", "json", "parsed")

    def __init__(self, schema_id: int, text: str) -> None:
        self.id = schema_id
        self.json: Mapping[str, Any] = json.loads(text)
        self.parsed = fastavro.parse_schema(dict(self.json), named_schemas={})


class ValueDecoder:
    """Turns a message value into (writer schema, record dict); thread-safe."""

    def __init__(self, registry: RegistryClient) -> None:
        self.registry = registry
        self._schemas: dict[int, WriterSchema] = {}
        self._lock = threading.Lock()

    def schema(self, schema_id: int) -> WriterSchema:
        found = self._schemas.get(schema_id)
        if found is None:
            found = WriterSchema(schema_id, self.registry.schema(schema_id))
            with self._lock:
                self._schemas[schema_id] = found
        return found

    def decode(self, value: bytes, where: str) -> tuple[WriterSchema, dict[str, Any]]:
        try:
            schema_id, body = split(value)
        except ValueError as exc:
            raise SyncError(
                where,
                "is not a Confluent wire-format Avro value",
                expected="magic byte 0, a 4-byte schema id, the Avro body",
                actual=str(exc),
                fix="only the router should write subscriber topics; skip the record by advancing"
                " its offset in sharebus_sync_offsets if it is garbage",
            ) from None
        writer = self.schema(schema_id)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(body), writer.parsed, None)
        except (EOFError, ValueError, TypeError, IndexError) as exc:
            raise SyncError(
                where,
                f"does not decode with its writer schema {schema_id}",
                expected="an Avro body written with the schema its header names",
                actual=f"{type(exc).__name__}: {exc}",
                fix="check the registry is the one the router registers with (SHAREBUS_REGISTRY_URL)",
            ) from None
        if not isinstance(record, dict):
            raise SyncError(where, "is not an Avro record", actual=type(record).__name__)
        return writer, record
