"""One error path for every command: one exit code per meaning, JSON under --json, secrets scrubbed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import psycopg
import pytest
import requests
from click.testing import CliRunner
from confluent_kafka import KafkaError, KafkaException
from pydantic import SecretStr

from connectors.errors import ChangePendingError, PreflightError, SnapshotError
from sharebus.apps.district.errors import BackfillError, SyncBusyError, SyncError
from sharebus.cli.main import cli
from sharebus.cli.output import handle_errors, json_option, remember_secret
from sharebus.core import settings as settings_module
from sharebus.core.errors import (
    MEANINGS,
    AccessError,
    ComponentError,
    ConfigError,
    ConnectorError,
    ExitCode,
    FetchError,
    PortInUseError,
    PrerequisiteError,
    SharebusError,
    UnreachableError,
)
from sharebus.core.settings import Settings
from streams.metrics.errors import MetricsError, QueryArgumentError
from streams.ops.errors import OpsError
from streams.router.delivery import DeliveryError

ROOT = Path(__file__).resolve().parents[2]

# Each error class and the one meaning its code stands for.
CODES = {
    SharebusError: ExitCode.FAILED,
    ConfigError: ExitCode.CONFIG,
    QueryArgumentError: ExitCode.CONFIG,
    PrerequisiteError: ExitCode.PREREQUISITE,
    FetchError: ExitCode.PREREQUISITE,
    PortInUseError: ExitCode.PORT_IN_USE,
    ComponentError: ExitCode.COMPONENT,
    UnreachableError: ExitCode.UNREACHABLE,
    ConnectorError: ExitCode.CONNECTOR,
    PreflightError: ExitCode.PREFLIGHT,
    ChangePendingError: ExitCode.CHANGE_PENDING,
    SnapshotError: ExitCode.SNAPSHOT,
    BackfillError: ExitCode.SNAPSHOT,
    SyncError: ExitCode.SYNC,
    SyncBusyError: ExitCode.SYNC_BUSY,
    AccessError: ExitCode.ACCESS,
    MetricsError: ExitCode.METRICS,
    DeliveryError: ExitCode.DELIVERY,
    OpsError: ExitCode.OPS,
}


@pytest.mark.parametrize(("cls", "code"), CODES.items(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_error_exits_with_the_code_of_its_meaning(cls: type[SharebusError], code: ExitCode) -> None:
    assert cls.exit_code is code


def test_every_code_has_a_meaning_and_the_readme_lists_it() -> None:
    readme = (ROOT / "README.md").read_text()
    assert set(MEANINGS) == set(ExitCode)
    listed = {int(m) for m in re.findall(r"^\| (\d+) \| `\w+` \|", readme, re.M)}
    assert listed == {int(c) for c in ExitCode}, "README 'Exit codes' must list every ExitCode"


@click.command()
@click.option("--fail-with", default="config")
@json_option
@handle_errors
def _command(fail_with: str, as_json: bool) -> None:
    if fail_with == "interrupt":
        raise KeyboardInterrupt
    raise ConfigError(
        "thing at postgresql://u:url-secret@db:5432/x",
        "is wrong",
        expected="right",
        actual="typed-secret and admin-secret-value",
        fix="fix it",
    )


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None, kafka_admin_password=SecretStr("admin-secret-value"))  # type: ignore[call-arg, unused-ignore]
    monkeypatch.setattr(settings_module, "get_settings", lambda: settings)
    monkeypatch.setattr("sharebus.cli.output.get_settings", lambda: settings)
    remember_secret("typed-secret")


def test_an_error_prints_its_message_scrubbed_and_exits_with_its_code(secrets: None) -> None:
    result = CliRunner(mix_stderr=False).invoke(_command, [])
    assert result.exit_code == ExitCode.CONFIG
    assert result.stdout == ""
    assert result.stderr.startswith("error: thing at postgresql://u:***@db:5432/x: is wrong")
    for secret in ("url-secret", "typed-secret", "admin-secret-value"):
        assert secret not in result.stderr
    assert "Traceback" not in result.stderr


def test_json_errors_go_to_stdout_scrubbed(secrets: None) -> None:
    result = CliRunner(mix_stderr=False).invoke(_command, ["--json"])
    assert result.exit_code == ExitCode.CONFIG
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["error"] == "ConfigError" and data["fix"] == "fix it"
    for secret in ("url-secret", "typed-secret", "admin-secret-value"):
        assert secret not in result.stdout and secret not in result.stderr


def test_ctrl_c_exits_130_without_a_traceback() -> None:
    result = CliRunner(mix_stderr=False).invoke(_command, ["--fail-with", "interrupt"])
    assert result.exit_code == ExitCode.INTERRUPTED == 130
    assert result.stderr.strip() == "interrupted"


def test_a_bad_setting_is_a_config_error_naming_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_module.get_settings.cache_clear()
    monkeypatch.setenv("SHAREBUS_PG_PORT", "not-a-port")
    try:
        result = CliRunner(mix_stderr=False).invoke(cli, ["metrics", "summary", "--json"])
    finally:
        settings_module.get_settings.cache_clear()
    assert result.exit_code == ExitCode.CONFIG, result.stderr
    assert "SHAREBUS_PG_PORT='not-a-port'" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["subject"].startswith("settings")


@click.command()
@click.option("--kind")
@json_option
@handle_errors
def _client_failure(kind: str, as_json: bool) -> None:
    if kind == "kafka":
        raise KafkaException(
            KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Broker transport failure")
        )
    if kind == "denied":
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "TOPIC_AUTHORIZATION_FAILED"))
    if kind == "too-large":
        raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large"))
    if kind == "http":
        raise requests.ConnectionError("Connection refused")
    raise psycopg.OperationalError("connection refused")


@pytest.mark.parametrize(
    ("kind", "code", "text"),
    [
        ("kafka", ExitCode.UNREACHABLE, "Kafka at "),
        ("denied", ExitCode.ACCESS, "refused the request"),
        ("too-large", ExitCode.CONFIG, "max.message.bytes"),
        ("http", ExitCode.UNREACHABLE, "does not answer"),
        ("postgres", ExitCode.UNREACHABLE, "a PostgreSQL database"),
    ],
)
def test_a_client_library_failure_is_one_clear_error(kind: str, code: ExitCode, text: str) -> None:
    result = CliRunner(mix_stderr=False).invoke(_client_failure, ["--kind", kind, "--json"])
    assert result.exit_code == code, result.stderr
    assert text in result.stderr and "Traceback" not in result.stderr and "fix:" in result.stderr
    assert json.loads(result.stdout)["ok"] is False
