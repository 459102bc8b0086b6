"""Where the pseudonym key comes from: the setting; on a demo bus only, a key generated once
beside the runtime (never in the secrets dir Kafka Connect reads), a key of an earlier version
moved there unchanged; beyond a demo, the setting is required (exit 2 with the fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from sharebus.core.errors import ConfigError, ExitCode
from sharebus.core.keys import pseudonym_key
from sharebus.core.settings import Settings

REMOTE = {
    "kafka_bootstrap": "kafka.city.internal:9092",
    "kafka_admin_password": SecretStr("a-real-one"),
    "kafka_router_password": SecretStr("a-real-two"),
    "kafka_connect_password": SecretStr("a-real-three"),
    "connect_rest_password": SecretStr("a-real-four"),
}


def test_the_setting_wins(tmp_path: Path) -> None:
    settings = Settings(runtime_dir=tmp_path, pseudonym_key=SecretStr("k" * 32), **REMOTE)  # type: ignore[arg-type]
    assert pseudonym_key(settings) == b"k" * 32
    assert not (tmp_path / "keys").exists()


def test_a_demo_bus_generates_one_key_outside_the_secrets_dir(tmp_path: Path) -> None:
    settings = Settings(runtime_dir=tmp_path)
    key = pseudonym_key(settings)
    assert len(key) == 64 and pseudonym_key(settings) == key  # created once, then kept
    path = tmp_path / "keys" / "pseudonym.key"
    assert path.read_text().encode() == key and path.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "secrets" / "pseudonym.key").exists()  # Connect reads secrets/


def test_a_key_of_an_earlier_version_is_moved_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pseudonym.key").write_text("earlier-key-of-32-bytes-or-so-xx")
    assert pseudonym_key(Settings(runtime_dir=tmp_path)) == b"earlier-key-of-32-bytes-or-so-xx"
    assert not (tmp_path / "secrets" / "pseudonym.key").exists()


def test_beyond_a_demo_the_setting_is_required(tmp_path: Path) -> None:
    settings = Settings(runtime_dir=tmp_path, **REMOTE)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        pseudonym_key(settings)
    assert info.value.exit_code == ExitCode.CONFIG and "openssl rand" in (info.value.fix or "")
    assert not (tmp_path / "keys").exists()
    private = Settings(runtime_dir=tmp_path, allow_default_passwords=True, **REMOTE)  # type: ignore[arg-type]
    assert len(pseudonym_key(private)) == 64  # a private network that says it is a demo
