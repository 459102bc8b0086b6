"""Catalog signatures: a version verifies only unaltered and signed by the trusted key; the keys
are the operator's beyond a demo (a clear error naming the setting), made once per runtime on a
demo bus, never overwritten by keygen, and `catalog keygen` prints where they are."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sharebus.cli.main import cli
from sharebus.core import naming
from sharebus.core.errors import ConfigError, ExitCode
from sharebus.core.settings import Settings
from sharebus.core.signing import SignatureError, generate, signer, verifier
from streams.router.live_catalog import signed_headers, verified_texts

TEXTS = b'{"catalog": "x", "demands": "", "region": "", "responsibility": "", "districts": null}'


def demo(tmp_path: Path) -> Settings:
    return Settings(runtime_dir=tmp_path)  # type: ignore[call-arg]


def test_a_signed_version_verifies_and_an_altered_unsigned_or_foreign_one_does_not(tmp_path: Path) -> None:
    settings = demo(tmp_path)
    sign, check = signer(settings), verifier(settings)
    headers = signed_headers(sign, TEXTS)
    assert verified_texts(TEXTS, headers, check, "v1").catalog == "x"
    assert verified_texts(TEXTS, dict(headers), check, "v1").catalog == "x"  # headers as a dict too

    with pytest.raises(SignatureError, match="altered after signing") as altered:
        verified_texts(TEXTS.replace(b'"x"', b'"y"'), headers, check, "v2")
    assert altered.value.exit_code is ExitCode.TAMPERED
    with pytest.raises(SignatureError, match="is not signed"):
        verified_texts(TEXTS, [], check, "v3")

    _, _, other_id = generate(tmp_path / "other")
    other = signer(Settings(catalog_signing_key=tmp_path / "other" / "catalog-signing.pem"))  # type: ignore[call-arg]
    assert other.key_id == other_id != sign.key_id
    with pytest.raises(SignatureError, match="signed by another key") as foreign:
        verified_texts(TEXTS, signed_headers(other, TEXTS), check, "v4")
    assert foreign.value.actual == f"key {other_id}"
    forged = [
        (naming.H_CATALOG_SIGNATURE, signed_headers(other, TEXTS)[0][1]),
        (naming.H_CATALOG_KEY_ID, sign.key_id),
    ]
    with pytest.raises(SignatureError, match="altered after signing"):
        verified_texts(TEXTS, forged, check, "v5")  # another key's signature under the admin's id


def test_a_demo_bus_makes_its_pair_once_in_the_runtime_keys_dir(tmp_path: Path) -> None:
    first = signer(demo(tmp_path)).key_id
    assert signer(demo(tmp_path)).key_id == first == verifier(demo(tmp_path)).key_id
    private = tmp_path / "keys" / "catalog-signing.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert not (tmp_path / "secrets").exists()  # never where Kafka Connect reads


def test_beyond_a_demo_the_keys_are_required_by_name(tmp_path: Path) -> None:
    remote = Settings(  # type: ignore[call-arg]
        runtime_dir=tmp_path,
        kafka_bootstrap="kafka.city.example:9092",
        kafka_admin_password="a-real-one-1",
        kafka_router_password="a-real-one-2",
        kafka_connect_password="a-real-one-3",
        connect_rest_password="a-real-one-4",
    )
    with pytest.raises(ConfigError, match="SHAREBUS_CATALOG_SIGNING_KEY") as signing:
        signer(remote)
    assert "sharebus catalog keygen" in (signing.value.fix or "")
    with pytest.raises(ConfigError, match="SHAREBUS_CATALOG_VERIFY_KEY"):
        verifier(remote)
    assert not (tmp_path / "keys").exists()


def test_a_key_file_that_is_not_a_key_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="is not an Ed25519 public key"):
        verifier(Settings(catalog_verify_key=bad))  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="cannot be read"):
        signer(Settings(catalog_signing_key=tmp_path / "missing.pem"))  # type: ignore[call-arg]


def test_keygen_prints_the_pair_and_never_overwrites(tmp_path: Path) -> None:
    runner = CliRunner(mix_stderr=False)
    made = runner.invoke(cli, ["catalog", "keygen", str(tmp_path / "k"), "--json"])
    assert made.exit_code == 0, made.stderr
    out = json.loads(made.stdout)
    assert Path(out["verify_key"]).read_text().startswith("-----BEGIN PUBLIC KEY-----")
    check = verifier(Settings(catalog_verify_key=Path(out["verify_key"])))  # type: ignore[call-arg]
    assert check.key_id == out["key_id"]
    again = runner.invoke(cli, ["catalog", "keygen", str(tmp_path / "k")])
    assert again.exit_code == 2 and "never overwritten" in again.stderr and "Traceback" not in again.stderr
