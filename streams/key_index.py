"""The keys of the resources a consistency rule references (`references:` in the catalog), as the
bus has seen them: what the router looks a referencing field's value up in. Pure data, no I/O."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

import orjson


class Reference(NamedTuple):
    """A compiled consistency rule: `field` of a resource must be a key of `resource`."""

    field: str
    resource: str
    dead_letter: bool  # a mismatch dead-letters the record (else it is counted only)

    @property
    def problem(self) -> str:
        """Its name among a resource's problems (figures, samples, feedback): `reference:<field>`."""
        return f"{REFERENCE}:{self.field}"


REFERENCE = "reference"
"""The check a consistency mismatch is named by (its dead-letter `check` header, its problems)."""


class KeyIndex:
    """Per referenced resource, the hashes of the key values present (a value is held as its
    64-bit hash: ~half the memory of the text, and a false match once in 2⁶⁴). Thread-safe as
    Python's set operations are: the routing thread adds and removes, the follower applies the
    keys topic."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[str, set[int]] = {}

    def has(self, resource: str, value: Hashable) -> bool:
        keys = self._keys.get(resource)
        return keys is not None and hash(value) in keys

    def add(self, resource: str, value: Hashable) -> bool:
        """Hold `value` as a key of `resource`; True when it was not held."""
        keys = self._keys.get(resource)
        if keys is None:
            keys = self._keys[resource] = set()
        h = hash(value)
        if h in keys:
            return False
        keys.add(h)
        return True

    def discard(self, resource: str, value: Hashable) -> bool:
        """Forget `value` as a key of `resource`; True when it was held."""
        keys = self._keys.get(resource)
        h = hash(value)
        if keys is None or h not in keys:
            return False
        keys.discard(h)
        return True

    def size(self, resource: str) -> int:
        return len(self._keys.get(resource, ()))

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the keys topic: a key held (any value) or gone (a tombstone)."""
        entry = decode_entry(key)
        if entry is None:
            return
        resource, held = entry
        if value is None:
            self.discard(resource, held)
        else:
            self.add(resource, held)


KeyChange = tuple[str, Any, bool]
"""(resource, key value, present): a change of the index, for the keys topic."""

PRESENT = b"1"


def entry_key(resource: str, value: Any) -> bytes:
    """A keys-topic record's key: `["market.enterprise","91500…"]` (compaction keeps the newest)."""
    return orjson.dumps([resource, value])


def decode_entry(key: bytes | None) -> tuple[str, Hashable] | None:
    """(resource, value) of a keys-topic record's key; None when it is not one (skipped)."""
    try:
        data = orjson.loads(key) if key else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, list) or len(data) != 2 or not isinstance(data[0], str):
        return None
    value = data[1]
    if not isinstance(value, str | int):
        return None
    return data[0], value
