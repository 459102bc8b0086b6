"""Pseudonym keys by id: the id names a key without revealing it, every delivery that carries a
pseudonym names the key that made it (and only those do), and `sharebus pseudonyms keys` lists
the current and earlier ids; mapping without an earlier key is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import MaskKind
from sharebus.cli.main import cli
from sharebus.core.errors import ConfigError
from sharebus.core.keys import previous_pseudonym_keys
from sharebus.core.naming import H_PSEUDONYM_KEY
from sharebus.core.settings import Settings, get_settings
from streams.policy.compiled import compile_policy
from streams.policy.masks import pseudonym_key_id
from streams.router.batch import pseudonym_headers

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
NEW, OLD = "n" * 32, "o" * 32


def test_a_key_id_names_the_key_without_revealing_it() -> None:
    kid = pseudonym_key_id(NEW.encode())
    assert kid == pseudonym_key_id(NEW.encode()) != pseudonym_key_id(OLD.encode())
    assert len(kid) == 12 and kid not in NEW.encode().hex()
    with pytest.raises(ConfigError, match="pseudonym key"):
        pseudonym_key_id(b"short")


def test_only_deliveries_carrying_a_pseudonym_name_the_key() -> None:
    catalog = load_catalog(CATALOG)
    policy = compile_policy(catalog, pseudonym_key=NEW.encode())
    assert policy.pseudonym_key_id == pseudonym_key_id(NEW.encode())
    header = ((H_PSEUDONYM_KEY, policy.pseudonym_key_id.encode()),)
    targets = [c.target for r in policy.resources.values() for cs in r.candidates.values() for c in cs]
    pseudonymised = {
        r.id: {f.name for f in r.fields if f.mask is MaskKind.PSEUDONYM} for r in catalog.resources
    }
    carrying = [t for t in targets if t.masked and set(t.hidden) & pseudonymised[t.resource]]
    assert carrying, "the sample delivers pseudonyms somewhere"
    for t in targets:
        assert pseudonym_headers(policy, t) == (header if t in carrying else ())
    assert compile_policy(catalog, pseudonym_key=OLD.encode()).pseudonym_key_id != policy.pseudonym_key_id


def test_pseudonyms_keys_lists_the_current_and_earlier_ids(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHAREBUS_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("SHAREBUS_PSEUDONYM_KEY", NEW)
    monkeypatch.setenv("SHAREBUS_PSEUDONYM_PREVIOUS_KEYS", f"{OLD}, ")
    get_settings.cache_clear()
    try:
        result = CliRunner(mix_stderr=False).invoke(cli, ["pseudonyms", "keys", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "current": pseudonym_key_id(NEW.encode()),
        "previous": [pseudonym_key_id(OLD.encode())],
    }
    assert NEW not in result.stdout + result.stderr and OLD not in result.stdout + result.stderr


def test_mapping_needs_an_earlier_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SHAREBUS_PSEUDONYM_PREVIOUS_KEYS"):
        previous_pseudonym_keys(Settings(runtime_dir=tmp_path))  # type: ignore[call-arg]
