"""A catalog file's long lists parsed in chunks give exactly the values of one whole parse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ryaml._ryaml import InvalidYamlError, loads

from sharebus.catalog.yaml_chunks import NotChunkable, loads_chunked
from sharebus.core.pacing import beside_routing

SAMPLE_CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
FILES = sorted(p for p in SAMPLE_CITY.iterdir() if p.suffix == ".yaml")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunk", [1, 2, 200])
def test_the_sample_catalog_parses_the_same_in_chunks(path: Path, chunk: int) -> None:
    text = path.read_text()
    assert loads_chunked(text, loads, chunk) == loads(text)


LISTS = """\
# a comment
format: 1
demands:
- id: a
  fields: [x, y]
  note: |
    - not an item
    two lines
- id: b   # trailing
  nested:
  - 1
  - 2

- id: c
other:
  - p
  - q: {r: 1}
mapping:
  key: value
empty: []
"""


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_lists_at_any_indent_block_scalars_and_nested_lists_parse_the_same(chunk: int) -> None:
    assert loads_chunked(LISTS, loads, chunk) == loads(LISTS)


@pytest.mark.parametrize(
    "text",
    [
        "items:\n- 1\n---\nitems:\n- 2\n",  # several documents
        "items:\n\t- 1\n",  # tabs
        "- 1\n- 2\n",  # not a mapping
    ],
)
def test_what_a_cut_may_change_is_parsed_whole(text: str) -> None:
    with pytest.raises(NotChunkable):
        loads_chunked(text, loads, 1)


def test_aliases_within_a_chunk_resolve_and_across_chunks_refuse() -> None:
    text = "items:\n- &a {x: 1}\n- *a\n- 3\n"
    assert loads_chunked(text, loads, 2) == loads(text)
    with pytest.raises(InvalidYamlError):  # then the whole text is parsed (load.py)
        loads_chunked(text, loads, 1)


def test_a_catalog_parsed_in_chunks_is_the_catalog_parsed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a parse beside the routing thread (`beside_routing`) cuts; both give one catalog."""
    from sharebus.catalog import load

    calls: list[str] = []
    real = loads_chunked

    def counted(text: str, parse: Callable[[str], Any]) -> Any:
        calls.append("chunked")
        return real(text, parse)

    monkeypatch.setattr(load, "loads_chunked", counted)
    load.forget_parsed()
    whole = load.load_catalog(SAMPLE_CITY)
    assert calls == []
    load.forget_parsed()
    with beside_routing():
        chunked = load.load_catalog(SAMPLE_CITY)
    assert calls and chunked == whole and chunked.version == whole.version


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1 << 18])
def test_lines_are_split_in_pieces_as_splitlines_does(piece: int) -> None:
    from sharebus.catalog.yaml_chunks import _lines

    for text in (
        "",
        "a",
        "a\n",
        "a\r\nb\rc\n\nd",
        "x\u2028y\n\r\n\n",
        (SAMPLE_CITY / "catalog.yaml").read_text(),
    ):
        assert _lines(text, piece) == text.splitlines(keepends=True)
