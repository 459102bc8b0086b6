"""A catalog parsed in a child process (the worker's way): the same catalog and issues as in
process, the same object for the same texts, and a failing child named in a clear error."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sharebus.catalog.apart import parse_catalog_apart
from sharebus.catalog.load import forget_parsed, parse_catalog, read_catalog_dir
from sharebus.core.errors import ConfigError
from sharebus.core.pacing import beside_routing

SAMPLE_CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    forget_parsed()
    yield
    forget_parsed()


def test_apart_gives_what_the_parse_in_process_gives() -> None:
    texts = read_catalog_dir(SAMPLE_CITY)
    with beside_routing():  # the unpickling rests between frames, as in the worker's publish
        catalog, issues = parse_catalog_apart(texts)
    here, _ = parse_catalog(texts)
    assert issues == () and catalog is not None and here is not None
    assert "version" in catalog.__dict__, "hashed in the child: the worker does not hash it beside routing"
    assert catalog == here and catalog.version == here.version
    assert parse_catalog_apart(replace(texts)) == (catalog, ())
    assert parse_catalog_apart(replace(texts))[0] is catalog, "the same texts: the same object"


def test_issues_come_back_located() -> None:
    texts = read_catalog_dir(SAMPLE_CITY)
    broken = (texts.catalog or "").replace("sharing: unconditional", "sharing: sometimes", 1)
    catalog, issues = parse_catalog_apart(replace(texts, catalog=broken))
    assert catalog is None
    assert issues == parse_catalog(replace(texts, catalog=broken))[1]
    assert any("sometimes" in i.render() and i.line is not None for i in issues)


def test_a_failing_child_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(ConfigError) as raised:
        parse_catalog_apart(read_catalog_dir(SAMPLE_CITY))
    assert "child process failed (exit 1)" in str(raised.value)
    assert "sharebus catalog validate" in str(raised.value)
