"""docker-compose.yml and the Dockerfile agree with the local stack: versions, settings, ports."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sharebus.settings import Settings, setting_env_names
from sharebus.stack import names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAVEN = ROOT / "sharebus" / "stack" / "maven"

SERVICES = {"kafka", "postgres", "mariadb", "registry", "connect", "clickhouse", "sharebus"}
# Compose-only interpolation variables: no setting exists for the ClickHouse server's account.
NON_SETTING_VARIABLES = {"CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"}
# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `$NAME`; `$$` is Compose's literal `$`.
INTERPOLATION = re.compile(r"(?<!\$)\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as shipped: no SHAREBUS_* from the environment, no .env file."""
    for env_name in setting_env_names().values():
        monkeypatch.delenv(env_name, raising=False)
    return Settings(_env_file=None)  # type: ignore[call-arg, unused-ignore]


def pom_property(pom: str, name: str) -> str:
    root = ET.parse(MAVEN / pom).getroot()
    ns = {"m": root.tag.partition("}")[0].lstrip("{")}
    element = root.find(f"m:properties/m:{name}", ns)
    assert element is not None and element.text, f"{pom} has no <{name}> property"
    return element.text.strip()


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's `environment`, list or mapping form, as a mapping."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def resolve(value: object) -> str:
    """A Compose value with every interpolation replaced by its default (`$$` -> `$`)."""
    text = INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))
    return text.replace("$$", "$")


def port_pairs(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host, container) of each short-syntax "[IP:]HOST:CONTAINER" entry, defaults resolved."""
    pairs = []
    for entry in service.get("ports", []):
        assert isinstance(entry, str) and entry.count(":") in (1, 2), f"use HOST:CONTAINER: {entry}"
        *_, host, container = resolve(entry).split(":")
        pairs.append((int(host), int(container)))
    return pairs


def default_text(settings: Settings, field: str) -> str:
    value = getattr(settings, field)
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        logical.append(current)
        current = ""
    return [(ins.upper(), args.strip()) for ins, _, args in (ln.partition(" ") for ln in logical)]


def exec_form(args: str) -> list[str]:
    argv = json.loads(args)
    assert isinstance(argv, list), f"use the JSON (exec) form: {args}"
    return [str(a) for a in argv]


# --- services and versions -----------------------------------------------------------------------


def test_every_local_stack_component_is_a_service(services: dict[str, dict[str, Any]]) -> None:
    from sharebus.stack.manager import LocalStack

    local = {c.name for c in LocalStack(Settings()).components}
    assert set(services) == SERVICES == local | {"clickhouse", "sharebus"}


def test_images_pin_the_pom_versions(services: dict[str, dict[str, Any]]) -> None:
    kafka = pom_property("kafka.pom.xml", "kafka.version")
    debezium = pom_property("debezium.pom.xml", "debezium.version")
    assert services["kafka"]["image"] == f"apache/kafka:{kafka}"
    assert services["connect"]["image"] == f"quay.io/debezium/connect:{debezium}"


def test_every_backing_service_has_a_healthcheck_and_sharebus_waits_for_it(
    services: dict[str, dict[str, Any]],
) -> None:
    backing = SERVICES - {"sharebus"}
    for name in backing:
        test = services[name]["healthcheck"]["test"]
        # List form, which the testcontainers backend runs as is.
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
    depends = services["sharebus"]["depends_on"]
    assert {name: depends[name]["condition"] for name in backing} == dict.fromkeys(
        backing, "service_healthy"
    )
    assert services["connect"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_environment_values_are_strings_or_numbers(services: dict[str, dict[str, Any]]) -> None:
    # Compose rejects YAML booleans and nulls as environment values: quote "true"/"false".
    for name, service in services.items():
        for key, value in environment(service).items():
            assert isinstance(value, (str, int, float)) and not isinstance(value, bool), (
                f"{name}.{key}: {value!r}"
            )


# --- settings names ------------------------------------------------------------------------------


def test_every_sharebus_variable_is_a_settings_name(services: dict[str, dict[str, Any]]) -> None:
    valid = set(setting_env_names().values())
    used = {key for service in services.values() for key in environment(service)}
    assert {key for key in used if key.startswith("SHAREBUS_")} <= valid


def test_every_interpolation_is_a_settings_name_with_its_default(defaults: Settings) -> None:
    valid = setting_env_names()
    fields = {env_name: field for field, env_name in valid.items()}
    text = COMPOSE.read_text(encoding="utf-8")
    found = [(m.group(1) or m.group(3), m.group(2)) for m in INTERPOLATION.finditer(text)]
    assert found, "expected ${SHAREBUS_...:-default} interpolations"
    for name, default in found:
        if name in NON_SETTING_VARIABLES:
            continue
        assert name in fields, f"${{{name}}} is not a settings name"
        # A default equal to the setting's default: unset, Compose and the CLI agree.
        assert default is not None, f"${{{name}}} needs a :-default"
        assert default == default_text(defaults, fields[name]), name


def test_sharebus_service_settings(services: dict[str, dict[str, Any]]) -> None:
    env = {key: resolve(value) for key, value in environment(services["sharebus"]).items()}
    kafka_env = environment(services["kafka"])
    assert env["SHAREBUS_KAFKA_BOOTSTRAP"] in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["SHAREBUS_KAFKA_BOOTSTRAP"] == environment(services["connect"])["BOOTSTRAP_SERVERS"]
    connect = urlsplit(env["SHAREBUS_CONNECT_URL"])
    assert (connect.hostname, connect.port) == ("connect", 8083)
    assert env["SHAREBUS_PG_HOST"] == "postgres"
    assert int(env["SHAREBUS_PG_PORT"]) in [
        target for _, target in port_pairs(services["postgres"])
    ]
    metrics = urlsplit(env["SHAREBUS_METRICS_URL"])
    clickhouse_env = {k: resolve(v) for k, v in environment(services["clickhouse"]).items()}
    assert (metrics.scheme, metrics.hostname, metrics.port) == ("clickhouse", "clickhouse", 8123)
    assert metrics.path == f"/{clickhouse_env['CLICKHOUSE_DB']}"
    assert (metrics.username, metrics.password) == (
        clickhouse_env["CLICKHOUSE_USER"],
        clickhouse_env["CLICKHOUSE_PASSWORD"],
    )
    pg_env = {k: resolve(v) for k, v in environment(services["postgres"]).items()}
    assert env["SHAREBUS_PG_USER"] == pg_env["POSTGRES_USER"]
    assert env["SHAREBUS_PG_PASSWORD"] == pg_env["POSTGRES_PASSWORD"]
    assert env["SHAREBUS_CONNECT_SECRETS_DIR"] == names.CONTAINER_SECRETS_DIR


# --- ports ---------------------------------------------------------------------------------------


def test_published_ports_match_the_settings_defaults(
    services: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    assert defaults.kafka_port in [host for host, _ in port_pairs(services["kafka"])]
    assert (defaults.connect_port, 8083) in port_pairs(services["connect"])
    assert (defaults.pg_port, 5432) in port_pairs(services["postgres"])
    assert (defaults.mariadb_port, 3306) in port_pairs(services["mariadb"])
    assert (8123, 8123) in port_pairs(services["clickhouse"])
    assert (6066, 6066) in port_pairs(services["sharebus"])


def test_kafka_listeners_serve_containers_and_the_host(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])

    def by_name(value: str) -> dict[str, str]:
        return dict(item.split("://", 1) for item in value.split(","))

    listeners, advertised = (
        by_name(env["KAFKA_LISTENERS"]),
        by_name(env["KAFKA_ADVERTISED_LISTENERS"]),
    )
    # Containers: kafka:9092 on a listener bound to 9092.
    internal = next(name for name, address in advertised.items() if address == "kafka:9092")
    assert listeners[internal].endswith(":9092")
    # Host: the published port leads to a listener advertised as localhost:<published port>
    # (the testcontainers backend rewrites exactly that string).
    (published, target), *_ = port_pairs(services["kafka"])
    host = next(name for name, address in listeners.items() if address.endswith(f":{target}"))
    assert advertised[host] == f"localhost:{published}"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


# --- Connect -------------------------------------------------------------------------------------


def test_connect_matches_the_local_worker(
    services: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    env = {key: resolve(value) for key, value in environment(services["connect"]).items()}
    assert env["GROUP_ID"] == defaults.connect_group_id
    assert env["CONFIG_STORAGE_TOPIC"] == names.CONNECT_CONFIG_TOPIC
    assert env["OFFSET_STORAGE_TOPIC"] == names.CONNECT_OFFSET_TOPIC
    assert env["STATUS_STORAGE_TOPIC"] == names.CONNECT_STATUS_TOPIC
    assert env["CONNECT_KEY_CONVERTER_SCHEMAS_ENABLE"] == "false"
    assert env["CONNECT_VALUE_CONVERTER_SCHEMAS_ENABLE"] == "false"
    assert env["CONNECT_CONFIG_PROVIDERS"] == "dir"
    assert env["CONNECT_CONFIG_PROVIDERS_DIR_CLASS"] == (
        "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
    )
    assert env["CONNECT_CONFIG_PROVIDERS_DIR_PARAM_ALLOWED_PATHS"] == names.CONTAINER_SECRETS_DIR


def test_secrets_volume_is_shared_by_connect_and_sharebus(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert "secrets" in compose["volumes"]
    for name in ("connect", "sharebus"):
        mounts = [str(v).split(":") for v in services[name]["volumes"]]
        assert ["secrets", names.CONTAINER_SECRETS_DIR] in [m[:2] for m in mounts], name


def test_mariadb_has_a_row_binlog_and_the_settings_password(
    services: dict[str, dict[str, Any]],
) -> None:
    command = shlex.split(services["mariadb"]["command"])
    assert {"--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=1"} <= set(command)
    assert any(arg.startswith("--log-bin") for arg in command)
    env = {key: resolve(value) for key, value in environment(services["sharebus"]).items()}
    assert env["SHAREBUS_MARIADB_HOST"] == "mariadb" and env["SHAREBUS_MARIADB_PORT"] == "3306"
    root_password = resolve(environment(services["mariadb"])["MARIADB_ROOT_PASSWORD"])
    assert env["SHAREBUS_MARIADB_PASSWORD"] == root_password


def test_postgres_has_logical_decoding(services: dict[str, dict[str, Any]]) -> None:
    command = shlex.split(services["postgres"]["command"])
    assert command[0] == "postgres"
    assert "wal_level=logical" in command
    assert services["postgres"]["image"] == "postgres:15"


# --- the sharebus image --------------------------------------------------------------------------


def test_dockerfile_installs_the_package_and_runs_sharebus(
    services: dict[str, dict[str, Any]],
) -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = " && ".join(args for ins, args in instructions if ins == "RUN")
    assert re.search(r"pip install (\S+ )*\.(\s|$)", runs), "the image must `pip install .`"
    assert "[dev]" not in runs
    users = [args for ins, args in instructions if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "run as a non-root user"
    for ins, args in instructions:
        if ins == "ENV":  # the image's own settings are settings names too
            for key in re.findall(r"(SHAREBUS_\w+)=", args):
                assert key in setting_env_names().values(), key
    entrypoint = next((exec_form(a) for i, a in reversed(instructions) if i == "ENTRYPOINT"), [])
    cmd = next((exec_form(a) for i, a in reversed(instructions) if i == "CMD"), [])
    assert (entrypoint + cmd)[0] == "sharebus"
    # Compose's command replaces CMD and follows ENTRYPOINT: together they run `sharebus` once.
    compose_argv = entrypoint + list(services["sharebus"]["command"])
    assert compose_argv[:3] == ["sharebus", "run", "--external"]
    assert services["sharebus"]["build"]["context"] == "."


def test_the_sharebus_console_script_exists() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "sharebus" in project["scripts"]


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".runtime", ".venv", ".git", "test-artifacts", ".env"} <= patterns
    # What `pip install .` needs must stay in the build context.
    assert not patterns & {"sharebus", "pyproject.toml", "README.md", "catalog", "*", "**"}
