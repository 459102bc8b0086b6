"""The Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the Avro body."""

from __future__ import annotations

import struct

MAGIC = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")


def header(schema_id: int) -> bytes:
    """The 5 bytes every message of schema `schema_id` starts with."""
    return _HEADER.pack(MAGIC, schema_id)


def split(message: bytes) -> tuple[int, bytes]:
    """(schema id, Avro body) of a wire-format message; ValueError when it is not one."""
    if len(message) < HEADER_SIZE:
        raise ValueError(f"{len(message)} bytes is shorter than the {HEADER_SIZE}-byte header")
    magic, schema_id = _HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"magic byte {magic}, expected {MAGIC}")
    return schema_id, message[HEADER_SIZE:]
