"""The testcontainers backend imports, and fails cleanly, without a Docker engine (as here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from sharebus.core.errors import ComponentError, ConfigError
from sharebus.core.naming import CONNECT_PASSWORD_SECRET, CONTAINER_SECRETS_DIR
from sharebus.core.settings import Settings
from sharebus.dev.stack import containers
from sharebus.dev.stack.containers import ContainerStack, docker_available, interpolate, rewrite_environment

NO_ENGINE = "unix:///nonexistent/sharebus-test-docker.sock"


def test_importing_the_module_needs_neither_testcontainers_nor_docker() -> None:
    code = (
        "import sys, sharebus.dev.stack.containers\n"
        "loaded = sorted(m for m in ('testcontainers', 'docker') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_docker_available_is_false_without_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    assert docker_available() is False


def test_docker_available_swallows_every_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    def broken(**_: object) -> None:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(docker, "from_env", broken)
    assert docker_available() is False


def test_docker_available_answers_a_bool_as_configured() -> None:
    assert isinstance(docker_available(), bool)


def test_interpolate_takes_settings_names_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHAREBUS_PG_USER", "from-the-environment")  # must not win over settings
    monkeypatch.delenv("CLICKHOUSE_USER", raising=False)
    settings = Settings(pg_user="alice", pg_password=SecretStr("s3cret"), pg_port=6543)  # type: ignore[call-arg, unused-ignore]
    assert interpolate("${SHAREBUS_PG_USER:-sharebus}", settings) == "alice"
    assert interpolate("${SHAREBUS_PG_PASSWORD:-x}", settings) == "s3cret"  # the secret's value
    assert interpolate("${SHAREBUS_PG_PORT:-25432}:5432", settings) == "6543:5432"
    assert interpolate("${CLICKHOUSE_USER:-sharebus}", settings) == "sharebus"
    assert interpolate('pg_isready -U "$$POSTGRES_USER"', settings) == 'pg_isready -U "$POSTGRES_USER"'
    assert interpolate(1, settings) == "1"


def test_the_compose_services_resolve_for_the_backend() -> None:
    services = containers.compose_services()
    assert set(containers.SERVICES) <= set(services)
    settings = Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]
    for name in containers.SERVICES:
        assert containers._port_pairs(services[name], settings)
        command = containers._healthcheck(services[name], settings)
        assert command and "$$" not in " ".join(command)


def test_the_kafka_command_resolves_for_the_backend() -> None:
    # The format-then-run script: Compose's `$$` become the shell's `$`, no setting is baked in.
    settings = Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]
    command = containers.compose_services()["kafka"]["command"]
    script = interpolate(command[2], settings)
    assert "$$" not in script and "${SHAREBUS_KAFKA_ADMIN_PASSWORD}" in script
    assert settings.kafka_admin_password.get_secret_value() not in script


def test_the_kafka_rewrites_reach_the_host_and_district_listeners() -> None:
    kafka = containers.compose_services()["kafka"]
    settings = Settings(  # type: ignore[call-arg, unused-ignore]
        _env_file=None,
        kafka_public_bootstrap="bus.example.org:19094",
        kafka_admin_password=SecretStr("admin-s3cret"),
    )
    address, port = containers.public_listener(kafka, settings)
    assert (address, port) == ("bus.example.org:19094", 9094)  # advertised from the settings
    env = rewrite_environment(
        "kafka",
        kafka,
        settings,
        [
            ("localhost:9092", "engine:40001"),
            (f"{containers.PUBLIC_LISTENER}://{address}", f"{containers.PUBLIC_LISTENER}://engine:40002"),
        ],
    )
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "INTERNAL_HOST://engine:40001" in advertised and "EXTERNAL://engine:40002" in advertised
    assert "INTERNAL://kafka:9092" in advertised  # the containers' listener is left alone
    # The broker is formatted with, and logs in as, the admin of the settings.
    assert env["SHAREBUS_KAFKA_ADMIN_PASSWORD"] == "admin-s3cret"
    assert 'password="admin-s3cret"' in env["KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG"]


def test_the_connect_rewrite_moves_the_password_reference_to_the_host_dir() -> None:
    connect = containers.compose_services()["connect"]
    settings = Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]
    env = rewrite_environment("connect", connect, settings, [(CONTAINER_SECRETS_DIR, "/host/secrets")])
    for prefix in ("", "PRODUCER_", "CONSUMER_", "ADMIN_"):
        jaas = env[f"CONNECT_{prefix}SASL_JAAS_CONFIG"]
        assert f'password="${{dir:/host/secrets:{CONNECT_PASSWORD_SECRET}}}"' in jaas
    assert env["CONNECT_CONFIG_PROVIDERS_DIR_PARAM_ALLOWED_PATHS"] == "/host/secrets"


def test_a_rewrite_that_matches_nothing_is_a_config_error() -> None:
    kafka = containers.compose_services()["kafka"]
    settings = Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]
    with pytest.raises(ConfigError, match="no value to rewrite"):
        rewrite_environment("kafka", kafka, settings, [("localhost:1", "engine:2")])
    with pytest.raises(ConfigError, match="no EXTERNAL listener"):
        containers.public_listener({"environment": {"KAFKA_LISTENERS": "INTERNAL://:9092"}}, settings)


def test_the_service_principals_step_writes_connect_password_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sharebus.apps.acl.sync

    seen: list[bool] = []
    secret = tmp_path / "secrets" / CONNECT_PASSWORD_SECRET
    monkeypatch.setattr(
        sharebus.apps.acl.sync, "ensure_service_principals", lambda _: seen.append(secret.exists())
    )
    settings = Settings(  # type: ignore[call-arg, unused-ignore]
        _env_file=None,
        connect_secrets_dir=tmp_path / "secrets",
        kafka_connect_password=SecretStr("connect-s3cret"),
    )
    containers._service_principals(settings)
    assert seen == [True]
    assert secret.read_text() == "connect-s3cret" and secret.stat().st_mode & 0o777 == 0o600


def test_a_missing_compose_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the Compose services"):
        containers.compose_services(tmp_path / "docker-compose.yml")


def test_start_without_an_engine_raises_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    if docker_available():  # pragma: no cover - an engine answers despite DOCKER_HOST
        pytest.skip("a Docker engine answers; this test is about its absence")
    stack = ContainerStack()
    with pytest.raises(ComponentError, match="container stack"):
        stack.start(Settings(runtime_dir=tmp_path))  # type: ignore[call-arg, unused-ignore]
    assert stack.containers == {} and stack.network is None
    stack.stop()  # safe to call again
