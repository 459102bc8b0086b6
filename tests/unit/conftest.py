"""Unit-test fixtures: the repository's sample catalogs, loaded once per session (frozen models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.encoder import SchemaBook
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog
from sharebus.testing.registry import IdRegistry
from streams.policy.compiled import compile_policy

CATALOGS = Path(__file__).resolve().parents[2] / "catalog"


@pytest.fixture(scope="session")
def chongqing_catalog() -> Catalog:
    """The Chongqing sample catalog (`catalog/chongqing/`)."""
    return load_catalog(CATALOGS / "chongqing")


@pytest.fixture(scope="module")
def book(chongqing_catalog: Catalog) -> SchemaBook:
    """Avro writers of the Chongqing policy, with ids from a registry without a server."""
    policy = compile_policy(chongqing_catalog, pseudonym_key=b"k" * 32)
    return SchemaBook(IdRegistry(), policy)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def zhuzhou_catalog() -> Catalog:
    """The Zhuzhou sample catalog (`catalog/zhuzhou/`)."""
    return load_catalog(CATALOGS / "zhuzhou")


@pytest.fixture
def ca_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CA file for settings built in the test (SHAREBUS_TLS_CA_FILE): Kafka client configs of a
    SASL_SSL bus name one that exists, and unit tests never read the machine's own."""
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SHAREBUS_TLS_CA_FILE", str(path))
    return path
