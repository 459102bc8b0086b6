"""The messages the router reads (raw records) and writes (outgoing messages)."""

from __future__ import annotations

from typing import NamedTuple


class RawRecord(NamedTuple):
    """A message read from a raw `cdc.*` topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class Outgoing(NamedTuple):
    """A message to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
