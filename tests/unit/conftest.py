"""Unit-test fixtures: the repository's sample catalogs, loaded once per session (frozen models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog

CATALOGS = Path(__file__).resolve().parents[2] / "catalog"


@pytest.fixture(scope="session")
def chongqing_catalog() -> Catalog:
    """The Chongqing sample catalog (`catalog/chongqing/`)."""
    return load_catalog(CATALOGS / "chongqing")


@pytest.fixture(scope="session")
def zhuzhou_catalog() -> Catalog:
    """The Zhuzhou sample catalog (`catalog/zhuzhou/`)."""
    return load_catalog(CATALOGS / "zhuzhou")
