"""Per-schema generated writers: one Python function per projection that encodes a delivery
straight from the source row (and its masked values), with no per-field calls or projected dict.

The generated code is the straight-line form of `writers.write_record` over the same field
writers' logic, so its bytes are identical (tested against `Encoder.encode` of the projection).
Fields whose schema carries `sharebus.mask` are read from the masked values; the rest from the row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import CodeType
from typing import Any

from schemas.derive import MASK_PROPERTY
from schemas.writers import _DOUBLE, _EPOCH, _LAST, _MORE, _from_iso, _text, days, micros, zigzag_varint

RowWriter = Callable[[Mapping[str, Any], Mapping[str, Any]], bytes]
"""(row, masked values) → the wire-format message (header included)."""

# The Avro long of the int `x`, `zigzag_varint` unrolled: 14-bit groups from the tables for
# up to 56 bits (timestamps in microseconds take 51), longer ones and out-of-range by `_zz`.
_VARINT = (
    "z = (x << 1) ^ (x >> 63)",
    "if 0 <= z < 16384: out += _LAST[z]",
    "elif 0 < z < 268435456: out += _MORE[z & 16383]; out += _LAST[z >> 14]",
    "elif 0 < z < 4398046511104:"
    " out += _MORE[z & 16383]; out += _MORE[z >> 14 & 16383]; out += _LAST[z >> 28]",
    "elif 0 < z < 72057594037927936:"
    " out += _MORE[z & 16383]; out += _MORE[z >> 14 & 16383]; out += _MORE[z >> 28 & 16383];"
    " out += _LAST[z >> 42]",
    "else: out += _zz(x)",
)

# Statements appending the Avro encoding of `x` (never None here) to `out`, per base type.
_BODIES: dict[str, tuple[str, ...]] = {
    "string": (
        "d = (x if x.__class__ is str else _text(x)).encode()",
        "n = len(d)",
        "out += _LAST[n << 1] if n < 8192 else _zz(n)",
        "out += d",
    ),
    "long": (
        "if x.__class__ is not int: raise TypeError(f'expected an integer, got {type(x).__name__}')",
        *_VARINT,
    ),
    "double": (
        "if not isinstance(x, (int, float)) or isinstance(x, bool):"
        " raise TypeError(f'expected a number, got {type(x).__name__}')",
        "out += _pack(x)",
    ),
    "boolean": (
        "if x.__class__ is not bool: raise TypeError(f'expected a boolean, got {type(x).__name__}')",
        "out.append(1 if x else 0)",
    ),
    "date": (
        "if x.__class__ is not int: x = _days(x)",
        *_VARINT,
    ),
    "timestamp-micros": (
        "if x.__class__ is str:",
        "    t = _iso(x)",
        "    if t.tzinfo is None: raise ValueError(f'timestamp {x} has no zone')",
        "    t = t - _EPOCH",
        "    x = (t.days * 86400 + t.seconds) * 1000000 + t.microseconds",
        "else:",
        "    x = _micros(x)",
        *_VARINT,
    ),
}
_BODIES["int"] = _BODIES["long"]

_NAMESPACE: dict[str, Any] = {
    "_LAST": _LAST,
    "_MORE": _MORE,
    "_zz": zigzag_varint,
    "_text": _text,
    "_pack": _DOUBLE.pack,
    "_days": days,
    "_micros": micros,
    "_iso": _from_iso,
    "_EPOCH": _EPOCH,
}


def _kind(avro: Any) -> tuple[bool, str]:
    """(nullable, base kind) of a field type `derive` produces."""
    nullable = isinstance(avro, list)
    if nullable:
        if len(avro) != 2 or avro[0] != "null":
            raise ValueError(f"union {avro!r} is not one derive produces (['null', T])")
        avro = avro[1]
    kind = avro.get("logicalType", avro.get("type")) if isinstance(avro, Mapping) else avro
    if not isinstance(kind, str) or kind not in _BODIES:
        raise ValueError(f"Avro type {avro!r} is not one derive produces")
    return nullable, kind


def row_writer_source(schema: Mapping[str, Any]) -> str:
    """The Python source of the writer of a record schema made by `derive` (for reading)."""
    if schema.get("type") != "record":
        raise ValueError("only record schemas are compiled")
    lines = ["def write(row, masked):", "    out = bytearray(_HEADER)", "    get, mget = row.get, masked.get"]
    for f in schema["fields"]:
        nullable, kind = _kind(f["type"])
        source = "mget" if MASK_PROPERTY in f else "get"
        lines.append(f"    x = {source}({f['name']!r})")
        body = _BODIES[kind]
        if nullable:
            lines += ["    if x is None:", "        out.append(0)", "    else:", "        out.append(2)"]
            lines += [f"        {stmt}" for stmt in body]
        else:
            lines += [f"    {stmt}" for stmt in body]
    lines.append("    return bytes(out)")
    return "\n".join(lines)


@functools.lru_cache(maxsize=8192)
def _compiled(source: str, name: str) -> CodeType:
    """The code of a writer's source: compiled once, however many projections (subscribers, schema
    versions) share the same fields; compiling cost ~10% of routing across 1,000 resources."""
    return compile(source, f"<row writer {name}>", "exec")


def compile_row_writer(schema: Mapping[str, Any], header: bytes) -> RowWriter:
    """The generated writer of `schema`, each message starting with `header` (wire format).
    A value that does not fit raises TypeError, ValueError or OverflowError, as the field
    writers do."""
    namespace = {**_NAMESPACE, "_HEADER": header}
    exec(_compiled(row_writer_source(schema), str(schema.get("name"))), namespace)
    write: RowWriter = namespace["write"]
    return write
