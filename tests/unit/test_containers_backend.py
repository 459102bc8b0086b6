"""The testcontainers backend imports, and fails cleanly, without a Docker engine (as here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from sharebus.errors import ComponentError, ConfigError
from sharebus.settings import Settings
from sharebus.stack import containers
from sharebus.stack.containers import ContainerStack, docker_available, interpolate

NO_ENGINE = "unix:///nonexistent/sharebus-test-docker.sock"


def test_importing_the_module_needs_neither_testcontainers_nor_docker() -> None:
    code = (
        "import sys, sharebus.stack.containers\n"
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
    assert interpolate("${SHAREBUS_PG_PORT:-55432}:5432", settings) == "6543:5432"
    assert interpolate("${CLICKHOUSE_USER:-sharebus}", settings) == "sharebus"
    assert (
        interpolate('pg_isready -U "$$POSTGRES_USER"', settings) == 'pg_isready -U "$POSTGRES_USER"'
    )
    assert interpolate(1, settings) == "1"


def test_the_compose_services_resolve_for_the_backend() -> None:
    services = containers.compose_services()
    assert set(containers.SERVICES) <= set(services)
    settings = Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]
    for name in containers.SERVICES:
        assert containers._port_pairs(services[name], settings)
        command = containers._healthcheck(services[name], settings)
        assert command and "$$" not in " ".join(command)


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
