"""Decoding subscriber-topic values (the router's wire format) and the CLI's argument checks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from schemas.derive import value_schema
from schemas.encoder import Encoder
from sharebus.apps.district.decode import ValueDecoder
from sharebus.apps.district.errors import SyncError
from sharebus.apps.district.target import parse_target
from sharebus.catalog.load import load_catalog
from sharebus.cli.district import _kafka_credentials, district
from sharebus.cli.reconcile import reconcile
from sharebus.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(REPO / "catalog" / "chongqing")


class FakeRegistry:
    def __init__(self, schemas: dict[int, dict[str, Any]]) -> None:
        self.schemas = schemas
        self.calls = 0

    def schema(self, schema_id: int) -> str:
        self.calls += 1
        return json.dumps(self.schemas[schema_id])


def test_values_decode_with_their_writer_schema_fetched_once() -> None:
    res = CATALOG.resource("market.enterprise")
    assert res is not None
    schema = value_schema("chongqing", res)
    registry = FakeRegistry({41: schema})
    decoder = ValueDecoder(registry)  # type: ignore[arg-type]
    value = Encoder("t", "t-value", 41, schema).encode(
        {
            "uscc": "91500101MA5U3R0X2K",
            "name": "n",
            "reg_capital": "12.50",
            "established_on": 19000,
            "created_at": "2025-01-01T00:00:00.123456Z",
        }
    )
    for _ in range(3):
        writer, record = decoder.decode(value, "record t[0]@1")
    assert registry.calls == 1 and writer.id == 41
    assert record["established_on"] == date(2022, 1, 8) and record["reg_capital"] == "12.50"
    assert record["created_at"] == datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert record["phone"] is None
    with pytest.raises(SyncError, match="not a Confluent wire-format"):
        decoder.decode(b'{"json": 1}', "record t[0]@2")
    with pytest.raises(SyncError, match="does not decode"):
        decoder.decode(value[:9], "record t[0]@3")


def test_targets_are_postgresql_urls_with_a_password() -> None:
    target = parse_target("postgresql://d:pw@h:5433/pool")
    assert (target.host, target.port, target.dbname, target.password) == ("h", 5433, "pool", "pw")
    with pytest.raises(ConfigError, match="--target"):
        parse_target("mariadb://d:pw@h/pool")
    with pytest.raises(ConfigError, match="--target"):
        parse_target("not a url")


def test_kafka_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert _kafka_credentials(None, "SCRAM-SHA-512", "SASL_SSL", "SASL_SSL", ca) == {}
    monkeypatch.delenv("SHAREBUS_DISTRICT_KAFKA_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="has no password"):
        _kafka_credentials("d500101", "SCRAM-SHA-512", "SASL_SSL", "SASL_SSL", ca)
    monkeypatch.setenv("SHAREBUS_DISTRICT_KAFKA_PASSWORD", "s3cret")
    conf = _kafka_credentials("d500101", "SCRAM-SHA-512", "SASL_SSL", "SASL_PLAINTEXT", ca)
    assert conf["sasl.username"] == "d500101" and conf["security.protocol"] == "SASL_SSL"
    assert conf["ssl.ca.location"] == str(ca)


def test_the_district_login_speaks_the_buss_protocol_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """It defaulted to SASL_SSL when no listener of the bus offered it; now the bus's own is TLS."""
    monkeypatch.setenv("SHAREBUS_DISTRICT_KAFKA_PASSWORD", "s3cret")
    ca = tmp_path / "ca.pem"
    conf = _kafka_credentials("d500101", "SCRAM-SHA-512", None, "SASL_PLAINTEXT", ca)
    assert conf["security.protocol"] == "SASL_PLAINTEXT" and "ssl.ca.location" not in conf
    with pytest.raises(ConfigError, match="needs SASL") as refused:
        _kafka_credentials("d500101", "SCRAM-SHA-512", None, "PLAINTEXT", ca)
    assert "--kafka-protocol" in str(refused.value.fix)
    with pytest.raises(ConfigError, match="--kafka-ca") as missing:
        _kafka_credentials("d500101", "SCRAM-SHA-512", None, "SASL_SSL", ca)
    assert "--kafka-ca" in str(missing.value.fix)


def test_bad_arguments_exit_2_with_the_fix() -> None:
    runner = CliRunner(mix_stderr=False)
    result = runner.invoke(district, ["sync", "500101", "--target", "mariadb://u:p@h/db"])
    assert result.exit_code == 2 and "PostgreSQL" in result.stderr
    result = runner.invoke(district, ["backfill", "--subscriber", "500101"])
    assert result.exit_code == 2 and "go together" in result.stderr
    result = runner.invoke(reconcile, ["500101", "--target", "postgresql://u:p@h/db", "--source", "market"])
    assert result.exit_code == 2 and "DEPT=URL" in result.stderr
