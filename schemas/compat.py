"""Avro schema resolution as a compatibility check: can a reader schema read data written with a
writer schema (the Avro specification's rules)? BACKWARD = the new schema reads the old data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, UnknownType

# (writer type, reader type) pairs the Avro specification promotes.
_PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)


def parse(schema: Any) -> Any:
    """The schema with named references expanded and names fully qualified; ValueError when it
    is not a valid Avro schema."""
    try:
        return parse_schema(schema, expand=True, _write_hint=False)
    except (SchemaParseException, UnknownType, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a valid Avro schema: {exc}") from exc


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    inner = schema["type"]
    return inner if isinstance(inner, str) else _kind(inner)


def _names(schema: Mapping[str, Any]) -> set[str]:
    name = str(schema["name"])
    space = name.rpartition(".")[0]
    aliases = {a if "." in a or not space else f"{space}.{a}" for a in schema.get("aliases", ())}
    return {name, *aliases}


def _check(reader: Any, writer: Any, path: str, out: list[str]) -> None:
    rk, wk = _kind(reader), _kind(writer)
    if wk == "union":
        for i, branch in enumerate(writer):
            _check(reader, branch, f"{path}<branch {i}>", out)
        return
    if rk == "union":
        if not any(not problems(branch, writer) for branch in reader):
            out.append(f"{path}: the writer's {wk} matches no branch of the reader's union")
        return
    if rk != wk:
        if (wk, rk) not in _PROMOTIONS:
            out.append(f"{path}: the writer's {wk} cannot be read as {rk}")
        return
    if rk == "record":
        _check_record(reader, writer, path, out)
    elif rk == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            out.append(f"{path}: reader enum lacks symbols {', '.join(missing)} and has no default")
    elif rk == "array":
        _check(reader["items"], writer["items"], f"{path}[]", out)
    elif rk == "map":
        _check(reader["values"], writer["values"], f"{path}{{}}", out)
    elif rk == "fixed" and (reader["size"] != writer["size"] or not _names(reader) & {writer["name"]}):
        wrote, reads = f"{writer['name']}({writer['size']})", f"{reader['name']}({reader['size']})"
        out.append(f"{path}: fixed {wrote} is not {reads}")


def _check_record(reader: Mapping[str, Any], writer: Mapping[str, Any], path: str, out: list[str]) -> None:
    if writer["name"] not in _names(reader):
        out.append(f"{path}: record {writer['name']} is not {reader['name']} (nor an alias)")
        return
    written = {f["name"]: f for f in writer["fields"]}
    for field in reader["fields"]:
        here = f"{path}.{field['name']}" if path else str(field["name"])
        source = next((written[n] for n in (field["name"], *field.get("aliases", ())) if n in written), None)
        if source is not None:
            _check(field["type"], source["type"], here, out)
        elif "default" not in field:
            out.append(f"{here}: new field without a default (old data cannot fill it)")


def problems(reader: Any, writer: Any) -> list[str]:
    """Why data written with `writer` cannot be read with `reader` ([] when it can); both
    already `parse`d."""
    out: list[str] = []
    _check(reader, writer, "", out)
    return out


def backward_problems(new: Any, old: Any) -> list[str]:
    """Why `new` cannot read data written with `old` (BACKWARD); [] when compatible."""
    return problems(parse(new), parse(old))
