"""Parsing a catalog file's long top-level lists a few hundred items per call, never in one.

A YAML parser is one call that holds the GIL: the city's 2.7 MB demand list took ~0.3 s and its
5 MB resource list ~0.9 s, while a worker parses a published version beside its routing thread.
A top-level key whose value is a block sequence (`demands:` followed by `- …` items) is cut at
its items' starts; each chunk of items is parsed on its own and the rest of the document (the
lists replaced by `[]`) once. Where that cannot give the same values — an alias to an anchor of
another chunk (the parser refuses an unknown anchor), a chunk that does not parse, a list that is
not what the cut expected — the caller parses the whole text instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sharebus.core import pacing

CHUNK_ITEMS = 200
"""Items of a list parsed per call (~6 ms for the city's demands)."""

_KEY = re.compile(r"^([A-Za-z_][\w-]*):[ \t]*(?:#.*)?$")
_ITEM = re.compile(r"^( *)- ")
_MARKER = re.compile(r"^(?:---|\.\.\.)(?:\s|$)", re.M)


class NotChunkable(Exception):
    """The text is not one the cut reproduces exactly: parse it whole."""


def _may_mark(text: str) -> bool:
    """Whether a line may start with a document marker: a substring search is ~20× faster than
    the multi-line regex over the city's 3 MB lists (one call that holds the GIL)."""
    return text.startswith(("---", "...")) or "\n---" in text or "\n..." in text


def _lines(text: str, piece: int = 1 << 18) -> list[str]:
    """`text.splitlines(keepends=True)`, 256 KB at a time (one call over the city's 5 MB list
    holds the GIL ~30 ms); pieces end after a "\n", so no line ending is cut in two."""
    out: list[str] = []
    start = 0
    while start < len(text):
        end = text.find("\n", start + piece)
        end = len(text) if end < 0 else end + 1
        out += text[start:end].splitlines(keepends=True)
        pacing.pace()
        start = end
    return out


def loads_chunked(text: str, loads: Callable[[str], Any], chunk: int = CHUNK_ITEMS) -> Any:
    """The values of `text` (a YAML mapping), its long top-level lists parsed `chunk` items at a
    time; NotChunkable when only a whole parse is sure to give them."""
    if "\t" in text or (_may_mark(text) and _MARKER.search(text)):
        raise NotChunkable("tabs or several documents")
    lines = _lines(text)
    skeleton: list[str] = []
    lists: dict[str, list[str]] = {}
    i = 0
    while i < len(lines):
        key = _KEY.match(lines[i])
        if key is None:
            skeleton.append(lines[i])
            i += 1
            continue
        end = i + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " -#"):
            end += 1
        body = lines[i + 1 : end]
        first = next((ln for ln in body if ln.strip() and not ln.lstrip().startswith("#")), None)
        item = _ITEM.match(first) if first is not None else None
        if item is None or key.group(1) in lists:
            skeleton += lines[i:end]
        else:
            skeleton.append(f"{key.group(1)}: []\n")
            lists[key.group(1)] = body
        i = end
    data = loads("".join(skeleton))
    if not isinstance(data, dict):
        raise NotChunkable("not a mapping")
    for name, body in lists.items():
        if data.get(name) != []:
            raise NotChunkable(f"{name} is not the list that was cut")
        data[name] = _parse_items(body, loads, chunk)
    return data


def _parse_items(body: list[str], loads: Callable[[str], Any], chunk: int) -> list[Any]:
    indent = next(len(m.group(1)) for ln in body if (m := _ITEM.match(ln)))
    starts = [n for n, ln in enumerate(body) if (m := _ITEM.match(ln)) and len(m.group(1)) == indent]
    for ln in body[: starts[0]]:
        if ln.strip() and not ln.lstrip().startswith("#"):
            raise NotChunkable("text before the first item")
    items: list[Any] = []
    for at in range(0, len(starts), chunk):
        pacing.pace()
        stop = starts[at + chunk] if at + chunk < len(starts) else len(body)
        values = loads("".join(body[starts[at] : stop]))
        if not isinstance(values, list) or len(values) != len(starts[at : at + chunk]):
            raise NotChunkable("a chunk is not its items")
        items += values
    return items
