"""A list file whose text did not change is neither parsed nor validated again: the catalog is
the one a fresh parse gives, and cross-checks still see its entries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sharebus.catalog import load
from sharebus.catalog.load import parse_catalog, read_catalog_dir
from sharebus.catalog.models import Catalog
from sharebus.catalog.validate import CATALOG_FILE

SAMPLE_CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    load.forget_parsed()
    yield
    load.forget_parsed()


def _revoke_first(demands: str) -> str:
    at = demands.index("status: approved")
    return demands[:at] + "status: revoked" + demands[at + len("status: approved") :]


def test_a_changed_demand_list_reuses_the_catalog_list_and_gives_the_fresh_catalog() -> None:
    texts = read_catalog_dir(SAMPLE_CITY)
    first, _ = parse_catalog(texts)
    cached = load._LAST_VALIDATED[CATALOG_FILE]
    changed = replace(texts, demands=_revoke_first(texts.demands or ""))
    again, issues = parse_catalog(changed)
    assert issues == () and again is not None and first is not None
    assert load._LAST_VALIDATED[CATALOG_FILE] is cached  # not validated again
    assert again.resources is not first.resources and again.resources == first.resources
    load.forget_parsed()
    fresh, _ = parse_catalog(changed)
    assert fresh == again and fresh is not None and fresh.version == again.version != first.version


def test_cross_checks_see_the_cached_entries() -> None:
    texts = read_catalog_dir(SAMPLE_CITY)
    parse_catalog(texts)
    demands = (texts.demands or "").replace("resource: market.enterprise", "resource: market.nowhere", 1)
    catalog, issues = parse_catalog(replace(texts, demands=demands))
    assert catalog is None
    assert any("market.nowhere" in i.render() for i in issues)
    assert all(i.line is not None for i in issues if i.file == "demands.yaml")  # located by the marked parse


def test_a_list_with_issues_is_not_kept() -> None:
    texts = read_catalog_dir(SAMPLE_CITY)
    load.forget_parsed()
    broken = (texts.catalog or "").replace("sharing: unconditional", "sharing: sometimes", 1)
    catalog, issues = parse_catalog(replace(texts, catalog=broken))
    assert catalog is None and issues
    assert CATALOG_FILE not in load._LAST_VALIDATED
    assert parse_catalog(texts)[0] is not None


def test_the_same_texts_give_the_same_catalog_object() -> None:
    texts = read_catalog_dir(SAMPLE_CITY)
    first, _ = parse_catalog(texts)
    again, _ = parse_catalog(replace(texts))  # equal texts, another object
    assert again is first
    other, _ = parse_catalog(texts, folder="chongqing")  # the folder is checked: parsed again
    assert other is not first and other == first
    changed, _ = parse_catalog(replace(texts, demands=_revoke_first(texts.demands or "")))
    assert changed is not None and first is not None
    assert changed is not first and changed.version != first.version


def test_a_changed_copy_of_a_catalog_has_its_own_version_and_index(chongqing_catalog: Catalog) -> None:
    version = chongqing_catalog.version
    first = chongqing_catalog.resources[0]
    assert chongqing_catalog.resource(first.id) is first
    changed = chongqing_catalog.model_copy(update={"resources": chongqing_catalog.resources[1:]})
    assert changed.version != version and changed.resource(first.id) is None
    assert chongqing_catalog.version == version and chongqing_catalog.resource(first.id) is first
    assert chongqing_catalog.model_copy().version == version  # an unchanged copy: the same content


def test_the_caches_keep_digests_not_the_texts() -> None:
    texts = read_catalog_dir(SAMPLE_CITY)
    parse_catalog(texts)
    kept = load._LAST_VALIDATED[CATALOG_FILE]
    assert isinstance(kept.digest, bytes) and len(kept.digest) == 32
    ((digest, _),) = load._LAST_CATALOG.values()
    assert isinstance(digest, bytes) and len(digest) == 32
    changed = replace(texts, region=(texts.region or "") + "\n")
    assert load.texts_digest(changed, load.file_digests(changed)) != digest
