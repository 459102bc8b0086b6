"""docker-compose.yml and the Dockerfile agree with the local stack: versions, settings, ports."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sharebus.core import naming as names
from sharebus.core.kafka_clients import (
    JAVA_SCRAM_LOGIN,
    MECHANISM,
    Role,
    connect_password_ref,
    java_client_properties,
)
from sharebus.core.naming import CONNECT_PASSWORD_SECRET
from sharebus.core.settings import Settings, setting_env_names
from sharebus.dev.compose_env import compose_secrets, write_env
from sharebus.dev.stack.kafka import Kafka
from sharebus.dev.stack.layout import Layout
from sharebus.dev.stack.tls import COMPONENTS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAVEN = ROOT / "sharebus" / "dev" / "stack" / "maven"

SERVICES = {
    "kafka",
    "kafka-principals",
    "catalog-keys",
    "postgres",
    "mariadb",
    "registry",
    "connect",
    "clickhouse",
    "sharebus",
    "tls",
}
# Run once to completion (no healthcheck): the router's and Connect's principals, before Connect.
ONE_SHOT = {"kafka-principals", "tls", "catalog-keys"}
# Containers of the sharebus image that talk to Kafka as the bus (the admin, and the services).
BUS_CLIENTS = ("kafka-principals", "registry", "sharebus")
# Environment names the apache/kafka image does not turn into server.properties (KafkaDockerWrapper).
KAFKA_IMAGE_NON_PROPERTIES = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
}
# Differ by design from the local broker: the Compose broker has container- and host-facing twins.
KAFKA_LISTENER_LAYOUT = {"listeners", "advertised.listeners", "listener.security.protocol.map"}
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
        assert isinstance(entry, str), f"use [IP:]HOST:CONTAINER: {entry}"
        text = resolve(entry)
        assert text.count(":") in (1, 2), f"use [IP:]HOST:CONTAINER: {entry}"
        *_, host, container = text.split(":")
        pairs.append((int(host), int(container)))
    return pairs


def kafka_properties(service: dict[str, Any]) -> dict[str, str]:
    """server.properties as the apache/kafka image renders it from KAFKA_* (defaults resolved):
    strip KAFKA_, lower case, `_` -> `.`, then `...` -> `-` and `..` -> `_`."""
    props = {}
    for key, value in environment(service).items():
        if key.startswith("KAFKA_") and key not in KAFKA_IMAGE_NON_PROPERTIES:
            name = key.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-")
            props[name.replace("..", "_")] = resolve(value)
    return props


def connect_properties(service: dict[str, Any]) -> dict[str, str]:
    """The worker properties the Debezium image renders from CONNECT_* (`_` -> `.`, lower case)."""
    env = environment(service)
    return {
        key.removeprefix("CONNECT_").lower().replace("_", "."): resolve(value)
        for key, value in env.items()
        if key.startswith("CONNECT_")
    }


def by_name(value: str) -> dict[str, str]:
    """A listener list (`NAME://host:port,...`) as name -> host:port."""
    return dict(item.split("://", 1) for item in value.split(","))


def default_text(settings: Settings, field: str) -> str:
    value = getattr(settings, field)
    if value is None:
        return ""  # `${NAME:-}`: unset
    if isinstance(value, bool):
        return str(value).lower()
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
    from sharebus.dev.stack.manager import LocalStack

    local = {c.name for c in LocalStack(Settings()).components}
    assert set(services) == SERVICES == local | {"clickhouse", "sharebus"} | ONE_SHOT


def test_images_pin_the_pom_versions(services: dict[str, dict[str, Any]]) -> None:
    kafka = pom_property("kafka.pom.xml", "kafka.version")
    debezium = pom_property("debezium.pom.xml", "debezium.version")
    assert services["kafka"]["image"] == f"apache/kafka:{kafka}"
    assert services["connect"]["image"] == f"quay.io/debezium/connect:{debezium}"


def test_every_backing_service_has_a_healthcheck_and_sharebus_waits_for_it(
    services: dict[str, dict[str, Any]],
) -> None:
    backing = SERVICES - {"sharebus"} - ONE_SHOT
    for name in backing:
        test = services[name]["healthcheck"]["test"]
        # List form, which the testcontainers backend runs as is.
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
    depends = services["sharebus"]["depends_on"]
    assert {name: depends[name]["condition"] for name in backing | ONE_SHOT} == {
        **dict.fromkeys(backing, "service_healthy"),
        **dict.fromkeys(ONE_SHOT, "service_completed_successfully"),
    }
    assert services["connect"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    # Connect logs in as its own principal: its credential and ACLs must exist before it starts.
    principals = services["connect"]["depends_on"]["kafka-principals"]
    assert principals["condition"] == "service_completed_successfully"
    assert services["kafka-principals"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "healthcheck" not in services["kafka-principals"]


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
    assert int(env["SHAREBUS_PG_PORT"]) in [target for _, target in port_pairs(services["postgres"])]
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
    assert defaults.kafka_public_port in [host for host, _ in port_pairs(services["kafka"])]
    assert (defaults.connect_port, 8083) in port_pairs(services["connect"])
    assert (defaults.pg_port, 5432) in port_pairs(services["postgres"])
    assert (defaults.mariadb_port, 3306) in port_pairs(services["mariadb"])
    assert (8123, 8123) in port_pairs(services["clickhouse"])
    assert (6066, 6066) in port_pairs(services["sharebus"])


def test_kafka_indexes_are_sized_like_the_local_brokers(services: dict[str, dict[str, Any]]) -> None:
    from sharebus.dev.stack.kafka import INDEX_MAX_BYTES

    assert kafka_properties(services["kafka"])["log.index.size.max.bytes"] == str(INDEX_MAX_BYTES)


def test_kafka_listeners_serve_containers_and_the_host(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
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


def test_kafka_external_listener_serves_districts(
    services: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    env = environment(services["kafka"])
    listeners = by_name(env["KAFKA_LISTENERS"])
    advertised = by_name(resolve(env["KAFKA_ADVERTISED_LISTENERS"]))
    # EXTERNAL (the name the testcontainers backend rewrites) is SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP,
    # published on its own port, as the local stack advertises it.
    assert advertised["EXTERNAL"] == defaults.kafka_public_bootstrap
    assert "${SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP:-" in env["KAFKA_ADVERTISED_LISTENERS"]
    bound = int(listeners["EXTERNAL"].rsplit(":", 1)[1])
    assert (defaults.kafka_public_port, bound) in port_pairs(services["kafka"])
    # The sample districts in the sharebus container reach a district listener (not INTERNAL).
    public = environment(services["sharebus"])["SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP"]
    docker_twin = next(name for name, address in advertised.items() if address == public)
    assert docker_twin not in ("INTERNAL", env["KAFKA_INTER_BROKER_LISTENER_NAME"], "CONTROLLER")
    props = kafka_properties(services["kafka"])
    jaas = f"{MECHANISM.lower()}.sasl.jaas.config"
    assert props[f"listener.name.{docker_twin.lower()}.{jaas}"] == props[f"listener.name.external.{jaas}"]


# --- Kafka security ------------------------------------------------------------------------------


def test_kafka_security_matches_the_local_broker(
    services: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    # The local broker's SASL listeners, authorizer and super user, property by property.
    # The key and CA files are the same ones, in the tls volume instead of <runtime>/tls.
    in_volume = defaults.model_copy(update={"tls_dir": Path(names.CONTAINER_TLS_DIR)})
    local = Kafka(in_volume, Layout.of(in_volume))._listeners()
    assert defaults.kafka_secure and "super.users" in local
    assert local["ssl.keystore.location"] == Path(names.CONTAINER_TLS_DIR) / "kafka-keystore.pem"
    props = kafka_properties(services["kafka"])
    wanted = {key: str(value) for key, value in local.items() if key not in KAFKA_LISTENER_LAYOUT}
    assert {key: props.get(key) for key in wanted} == wanted
    assert props["super.users"] == f"User:{defaults.kafka_admin_user}"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"


def test_every_kafka_listener_authenticates(services: dict[str, dict[str, Any]]) -> None:
    props = kafka_properties(services["kafka"])
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert set(protocols) == set(by_name(props["listeners"]))
    assert set(protocols.values()) == {"SASL_SSL"}
    # The apache/kafka image wants a JKS keystore of its own when an advertised listener's name
    # holds "SSL" (its startup script matches the text): the names must not.
    assert "SSL" not in props["advertised.listeners"]
    for name in protocols:
        prefix = f"listener.name.{name.lower()}"
        if name == props["controller.listener.names"]:
            assert props[f"{prefix}.sasl.enabled.mechanisms"] == "PLAIN"
            assert f"{prefix}.plain.sasl.jaas.config" in props
            continue
        # Never the broker's default (GSSAPI): SCRAM, with a JAAS section on every listener; only
        # the inter-broker listener's holds a login (the others check logins only).
        assert props[f"{prefix}.sasl.enabled.mechanisms"] == MECHANISM, name
        jaas = props[f"{prefix}.{MECHANISM.lower()}.sasl.jaas.config"]
        assert jaas.startswith(f"{JAVA_SCRAM_LOGIN} required"), name
        if name != props["inter.broker.listener.name"]:
            assert jaas == f"{JAVA_SCRAM_LOGIN} required;", name
    assert props["sasl.mechanism.inter.broker.protocol"] == MECHANISM
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"


def test_kafka_passwords_stay_out_of_commands_and_healthchecks(
    services: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    passwords = [
        default_text(defaults, field)
        for field in ("kafka_admin_password", "kafka_router_password", "kafka_connect_password")
    ]
    for name, service in services.items():
        text = json.dumps([service.get("command"), service.get("healthcheck")])
        assert "PASSWORD:-" not in text, name  # not even through interpolation
        assert not [p for p in passwords if p in resolve(text)], name
    # The broker's healthcheck logs in (SCRAM) with the client config its command writes.
    probe = " ".join(services["kafka"]["healthcheck"]["test"][1:])
    assert "--command-config /opt/kafka/config/sharebus-admin.properties" in probe


def run_kafka_command(
    services: dict[str, dict[str, Any]], tmp_path: Path, data: Path, **extra_env: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The kafka service's command, run by bash with the image's paths moved under `tmp_path`:
    kafka-storage.sh records its arguments and its config, the image's `run` records the hand-over."""
    out, bin_dir, config, tmp = (tmp_path / d for d in ("out", "bin", "config", "tmp"))
    for directory in (out, bin_dir, config, tmp, data):
        directory.mkdir(exist_ok=True)
    storage, run = bin_dir / "kafka-storage.sh", bin_dir / "run"
    storage.write_text(
        "#!/bin/sh\n"
        '[ -n "${FAKE_FAIL:-}" ] && echo "format failed" >&2 && exit 1\n'
        'printf "%s\\n" "$@" > "$FAKE_OUT/format-args"\n'
        'printf "%s\\n" "$KAFKA_HEAP_OPTS" > "$FAKE_OUT/format-heap"\n'
        'while [ $# -gt 0 ]; do [ "$1" = -c ] && cp "$2" "$FAKE_OUT/server.properties"; shift; done\n'
        'touch "$KAFKA_LOG_DIRS/meta.properties"\n'
    )
    run.write_text('#!/bin/sh\necho handed-over > "$FAKE_OUT/run"\n')
    for fake in (storage, run):
        fake.chmod(0o755)
    argv = list(services["kafka"]["command"])
    assert argv[:2] == ["bash", "-c"]
    script = resolve(argv[2])
    for path, moved in (
        ("/opt/kafka/bin/kafka-storage.sh", storage),
        ("/opt/kafka/config", config),
        ("/etc/kafka/docker/run", run),
    ):
        assert path in script
        script = script.replace(path, str(moved))
    env = {key: resolve(value) for key, value in environment(services["kafka"]).items()}
    env |= {
        "KAFKA_LOG_DIRS": str(data),
        "FAKE_OUT": str(out),
        "TMPDIR": str(tmp),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **extra_env,
    }
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, "-c", script], env=env, capture_output=True, text=True, timeout=30), out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash (the apache/kafka image has it)")
def test_kafka_formats_with_the_admin_scram_credential_then_runs_the_image(
    services: dict[str, dict[str, Any]], defaults: Settings, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    # A failed format: no hand-over, the rendered config (it holds the admin password) removed.
    proc, out = run_kafka_command(services, tmp_path, data, FAKE_FAIL="1")
    assert proc.returncode == 1 and "format failed" in proc.stderr
    assert not (out / "run").exists() and not list((tmp_path / "tmp").iterdir())

    # The first start (again): formatted with the admin's SCRAM credential, then the image's run.
    proc, out = run_kafka_command(services, tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    args = (out / "format-args").read_text().splitlines()
    env = environment(services["kafka"])
    assert args[:1] == ["format"] and f"--cluster-id={env['CLUSTER_ID']}" in args
    user, password = defaults.kafka_admin_user, default_text(defaults, "kafka_admin_password")
    assert args[args.index("--add-scram") + 1] == f"{MECHANISM}=[name={user},password={password}]"
    assert (out / "format-heap").read_text().strip() == "-Xmx256m"
    # Formatted with exactly the properties the image renders for the broker.
    rendered = dict(
        line.split("=", 1) for line in (out / "server.properties").read_text().splitlines() if line
    )
    assert rendered == {**kafka_properties(services["kafka"]), "log.dirs": str(data)}
    assert not list((tmp_path / "tmp").iterdir()), "the rendered config (admin password) is removed"
    assert (data / "sharebus-scram-admin").read_text().strip() == user
    admin = tmp_path / "config" / "sharebus-admin.properties"
    assert admin.stat().st_mode & 0o777 == 0o600
    assert admin.read_text().splitlines() == [
        "security.protocol=SASL_SSL",
        f"sasl.mechanism={MECHANISM}",
        f'sasl.jaas.config={JAVA_SCRAM_LOGIN} required username="{user}" password="{password}";',
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={names.CONTAINER_TLS_DIR}/ca.pem",
    ]
    assert (out / "run").read_text().strip() == "handed-over"
    assert password not in proc.stdout + proc.stderr

    # A restart: formatted already, so straight to the image's startup.
    (out / "format-args").unlink()
    (out / "run").unlink()
    proc, out = run_kafka_command(services, tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "format-args").exists() and (out / "run").exists()

    # A log dir formatted before SASL (no admin credential) is refused, as by the local stack.
    (data / "sharebus-scram-admin").unlink()
    (out / "run").unlink()
    proc, out = run_kafka_command(services, tmp_path, data)
    assert proc.returncode == 1 and "formatted without SCRAM" in proc.stderr
    assert not (out / "run").exists() and not (out / "format-args").exists()


# --- the bus's principals ------------------------------------------------------------------------


def test_bus_containers_log_in_as_the_bus_principals(services: dict[str, dict[str, Any]]) -> None:
    kafka = environment(services["kafka"])
    principals = environment(services["kafka-principals"])
    for name in BUS_CLIENTS:
        env = environment(services[name])
        # Compose's broker is always SASL: never the interpolated setting (a PLAINTEXT .env for a
        # host-side broker must not switch these clients off SCRAM).
        assert env["SHAREBUS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["SHAREBUS_TLS_DIR"] == names.CONTAINER_TLS_DIR, name  # its ca.pem, its certificates
        assert env["SHAREBUS_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        for key in ("SHAREBUS_KAFKA_ADMIN_USER", "SHAREBUS_KAFKA_ADMIN_PASSWORD"):
            assert env[key] == kafka[key], f"{name}.{key}"  # the one the log dir is formatted with
    # The credentials kafka-principals creates are those the router and `acl sync` use.
    sharebus = environment(services["sharebus"])
    shared = {key for key in principals if key.startswith(("SHAREBUS_KAFKA_", "SHAREBUS_AUDIT"))}
    shared |= {"SHAREBUS_CONNECT_GROUP_ID"}
    assert {key: sharebus.get(key) for key in shared} == {key: principals[key] for key in shared}
    assert principals["SHAREBUS_CONNECT_GROUP_ID"] == environment(services["connect"])["GROUP_ID"]
    assert principals["SHAREBUS_CONNECT_SECRETS_DIR"] == names.CONTAINER_SECRETS_DIR


def test_kafka_principals_writes_connect_password_and_creates_the_principals(
    services: dict[str, dict[str, Any]], defaults: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sharebus.apps.acl.sync
    import sharebus.core.keys
    import sharebus.core.settings
    import sharebus.dev.stack.connect

    argv = list(services["kafka-principals"]["command"])
    assert argv[:2] == ["python", "-c"]
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(sharebus.core.keys, "write_secret", lambda *args: calls.append(("secret", *args)))
    monkeypatch.setattr(
        sharebus.apps.acl.sync, "ensure_service_principals", lambda s: calls.append(("acl", s))
    )
    rest: list[tuple[Settings, Path]] = []
    monkeypatch.setattr(
        sharebus.dev.stack.connect, "write_rest_login", lambda s, d: rest.append((s, d)) or d / "jaas"
    )
    for key, value in environment(services["kafka-principals"]).items():
        monkeypatch.setenv(key, resolve(value))
    # The defaults are refused unless opted in (the demo case; compose-env's own values: below).
    monkeypatch.setenv("SHAREBUS_ALLOW_DEFAULT_PASSWORDS", "true")
    monkeypatch.setattr(sharebus.core.settings, "get_settings", lambda: Settings(_env_file=None))  # type: ignore[call-arg, unused-ignore]
    exec(compile(resolve(argv[2]), "kafka-principals", "exec"), {})
    (_, directory, name, password), (_, _, protocol_name, protocol), (_, settings) = calls
    assert (str(directory), name) == (names.CONTAINER_SECRETS_DIR, CONNECT_PASSWORD_SECRET)
    assert password == default_text(defaults, "kafka_connect_password")
    # What the connectors' schema-history clients speak, read at each task start.
    assert (protocol_name, protocol) == (names.KAFKA_PROTOCOL_SECRET, "SASL_SSL")
    assert isinstance(settings, Settings) and settings.kafka_secure
    assert settings.kafka_bootstrap == "kafka:9092"
    assert (settings.kafka_router_user, settings.kafka_connect_user, settings.kafka_admin_user) == (
        defaults.kafka_router_user,
        defaults.kafka_connect_user,
        defaults.kafka_admin_user,
    )
    assert settings.kafka_router_password == defaults.kafka_router_password
    # Connect's REST login, on the connect-rest volume Connect mounts read-only.
    ((rest_settings, rest_dir),) = rest
    assert rest_settings.connect_rest_password == defaults.connect_rest_password
    assert str(rest_dir) == "/run/sharebus/connect-rest"
    connect = services["connect"]
    assert "connect-rest:/run/sharebus/connect-rest:ro" in connect["volumes"]
    env = environment(connect)
    assert env["CONNECT_REST_EXTENSION_CLASSES"].endswith("BasicAuthSecurityRestExtension")
    assert env["KAFKA_OPTS"] == (
        f"-Djava.security.auth.login.config={rest_dir}/{sharebus.dev.stack.connect.REST_JAAS_FILE}"
    )
    assert "PASSWORD" not in " ".join(map(str, connect["healthcheck"]["test"]))


# --- Connect -------------------------------------------------------------------------------------


def test_connect_matches_the_local_worker(services: dict[str, dict[str, Any]], defaults: Settings) -> None:
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


def test_connect_logs_in_as_the_connect_principal(
    services: dict[str, dict[str, Any]], defaults: Settings
) -> None:
    # The local worker's client security, with the secrets dir as Connect's container sees it.
    settings = defaults.model_copy(
        update={
            "connect_secrets_dir": Path(names.CONTAINER_SECRETS_DIR),
            "tls_dir": Path(names.CONTAINER_TLS_DIR),
        }
    )
    reference = connect_password_ref(settings)
    wanted: dict[str, str] = {}
    for prefix in ("", "producer.", "consumer.", "admin."):
        wanted |= java_client_properties(settings, Role.CONNECT, reference, prefix)
    assert len(wanted) == 24 and f'password="{reference}"' in wanted["sasl.jaas.config"]
    assert wanted["admin.ssl.truststore.location"] == f"{names.CONTAINER_TLS_DIR}/ca.pem"
    props = connect_properties(services["connect"])
    assert {key: props.get(key) for key in wanted} == wanted
    # The password only by reference, and every JAAS config kept out of the image's log.
    env = environment(services["connect"])
    assert default_text(defaults, "kafka_connect_password") not in json.dumps(env)
    sensitive = set(env["SENSITIVE_PROPERTIES"].split(","))
    jaas = {"CONNECT_" + key.upper().replace(".", "_") for key in wanted if key.endswith("jaas.config")}
    assert jaas <= sensitive


def test_secrets_volume_is_shared_by_connect_and_sharebus(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert "secrets" in compose["volumes"]
    for name in ("connect", "sharebus", "kafka-principals"):
        mounts = [str(v).split(":") for v in services[name]["volumes"]]
        secrets = [m for m in mounts if m[:2] == ["secrets", names.CONTAINER_SECRETS_DIR]]
        assert len(secrets) == 1, name
        # Connect only reads; kafka-principals writes Connect's password, sharebus the DB ones.
        assert (secrets[0][2:] == ["ro"]) == (name == "connect"), name


def test_mariadb_has_a_row_binlog_and_the_settings_password(
    services: dict[str, dict[str, Any]],
) -> None:
    command = shlex.split(services["mariadb"]["command"])
    assert {"--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=1"} <= set(command)
    assert any(arg.startswith("--log-bin") for arg in command)
    tls = {
        f"--ssl-cert={names.CONTAINER_TLS_DIR}/mariadb.pem",
        f"--ssl-key={names.CONTAINER_TLS_DIR}/mariadb.key",
    }
    assert tls | {"--require-secure-transport=ON"} <= set(command)  # TLS, required of every TCP login
    assert f"tls:{names.CONTAINER_TLS_DIR}:ro" in services["mariadb"]["volumes"]
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


# --- the 3-broker option (docker-compose.cluster.yml) ---------------------------------------------

CLUSTER = ROOT / "docker-compose.cluster.yml"


class _ComposeLoader(yaml.SafeLoader):
    """Compose's own tags (`!override`) read as plain values."""


_ComposeLoader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cluster() -> dict[str, dict[str, Any]]:
    data = yaml.load(CLUSTER.read_text(encoding="utf-8"), Loader=_ComposeLoader)
    services: dict[str, dict[str, Any]] = data["services"]
    return services


def test_the_cluster_option_runs_three_kraft_nodes_like_the_local_stack(
    cluster: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> None:
    local = Settings(kafka_brokers=3)  # type: ignore[call-arg]
    nodes = {"kafka": services["kafka"]["environment"]["KAFKA_NODE_ID"]}
    for name in ("kafka-2", "kafka-3"):
        assert cluster[name]["extends"] == {"file": "docker-compose.yml", "service": "kafka"}
        nodes[name] = cluster[name]["environment"]["KAFKA_NODE_ID"]
    assert sorted(nodes.values()) == ["1", "2", "3"]
    for name in nodes:
        env = cluster[name]["environment"]
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert voters == [f"{n}@{node}:9093" for node, n in sorted(nodes.items(), key=lambda kv: kv[1])]
        assert (
            env["KAFKA_DEFAULT_REPLICATION_FACTOR"]
            == env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]
            == str(local.replication_factor)
        )
        assert (
            env["KAFKA_MIN_INSYNC_REPLICAS"]
            == env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]
            == str(local.min_insync_replicas)
        )
    # The host-side CLI with SHAREBUS_KAFKA_BROKERS=3 and the default bootstrap reaches each node.
    host_ports = [p.split(":")[1] for p in local.kafka_bootstrap.split(",")]
    published = ["9092"] + [str(port_pairs(cluster[n])[0][0]) for n in ("kafka-2", "kafka-3")]
    assert published == host_ports
    public = [p.split(":")[1] for p in local.kafka_public_bootstrap.split(",")]
    assert ["9094"] + [str(port_pairs(cluster[n])[1][0]) for n in ("kafka-2", "kafka-3")] == public


def test_the_cluster_options_bus_containers_know_every_broker_and_replicate_by_three(
    cluster: dict[str, dict[str, Any]],
) -> None:
    names = setting_env_names()
    for service in ("kafka-principals", "registry", "sharebus"):
        env = cluster[service]["environment"]
        assert {k for k in env if k.startswith("SHAREBUS_")} <= set(names.values())
        assert len(env["SHAREBUS_KAFKA_BOOTSTRAP"].split(",")) == 3 == int(env["SHAREBUS_KAFKA_BROKERS"])
        fields = {k.removeprefix("SHAREBUS_").lower(): v for k, v in env.items() if k.startswith("SHAREBUS_")}
        settings = Settings(**fields, allow_default_passwords=True)  # type: ignore[arg-type]
        assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)
    connect = cluster["connect"]["environment"]
    assert len(connect["BOOTSTRAP_SERVERS"].split(",")) == 3
    assert connect["CONNECT_CONFIG_STORAGE_REPLICATION_FACTOR"] == "3"


def test_only_the_district_listener_and_the_registry_are_published_beyond_loopback(
    services: dict[str, Any],
) -> None:
    """Kafka's internal (admin-capable) listener, the databases, Connect's REST API, ClickHouse and
    the worker's web server are bound to 127.0.0.1; districts need the external listener and the
    registry (which logs every request in)."""
    beyond = {
        (name, resolve(entry).split(":")[-2])
        for name, service in services.items()
        for entry in service.get("ports", [])
        if not resolve(entry).startswith("127.0.0.1:")
    }
    assert beyond == {("kafka", "9094"), ("registry", "8081")}


def test_the_tls_volume_holds_the_ca_every_service_trusts(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """The one-shot `tls` writes the CA and the certificates (`sharebus stack tls`, as `stack up`);
    every server and client mounts them read-only, and the keys go to each image's user."""
    assert "tls" in compose["volumes"]
    command = services["tls"]["command"]
    assert command[:3] == ["sharebus", "stack", "tls"]
    owners = dict(pair.split("=") for pair in command[4::2])
    assert set(owners) == set(COMPONENTS) and command[3::2] == ["--owner"] * len(owners)
    env = environment(services["tls"])
    assert env["SHAREBUS_TLS_DIR"] == names.CONTAINER_TLS_DIR
    assert "${SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP:-" in env["SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP"]
    for name in ("kafka", "kafka-principals", "connect", "registry", "sharebus"):
        mounts = [str(v).split(":") for v in services[name]["volumes"]]
        assert ["tls", names.CONTAINER_TLS_DIR, "ro"] in mounts, name
    assert ["tls", names.CONTAINER_TLS_DIR] in [str(v).split(":") for v in services["tls"]["volumes"]]
    assert services["kafka"]["depends_on"]["tls"]["condition"] == "service_completed_successfully"


def test_the_admin_s_catalog_keys_are_made_once_and_the_verifiers_read_only_the_public_one(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """`catalog-keys` makes the pair on the `keys` volume (kept when there); the registry gets the
    public key only, `sharebus` (which publishes as the admin) both; both mount it read-only."""
    assert "keys" in compose["volumes"]
    command = services["catalog-keys"]["command"]
    assert command[:4] == ["sharebus", "catalog", "keygen", "/run/sharebus/keys"] and "--keep" in command
    for name in ("registry", "sharebus"):
        assert "keys:/run/sharebus/keys:ro" in services[name]["volumes"], name
        assert services[name]["depends_on"]["catalog-keys"]["condition"] == "service_completed_successfully"
        env = environment(services[name])
        assert env["SHAREBUS_CATALOG_VERIFY_KEY"] == "/run/sharebus/keys/catalog-signing.pub.pem"
    assert "SHAREBUS_CATALOG_SIGNING_KEY" not in environment(services["registry"])
    assert environment(services["sharebus"])["SHAREBUS_CATALOG_SIGNING_KEY"].endswith("catalog-signing.pem")


def test_the_built_in_passwords_are_refused_unless_compose_env_generated_them(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """No bus container accepts the built-in passwords by default; `sharebus stack compose-env`
    gives every secret the file interpolates a random value in .env (mode 600), once."""
    for name in ("kafka-principals", "registry", "sharebus"):
        assert environment(services[name])["SHAREBUS_ALLOW_DEFAULT_PASSWORDS"] == (
            "${SHAREBUS_ALLOW_DEFAULT_PASSWORDS:-false}"
        ), name
    env_file = tmp_path / ".env"
    env_file.write_text("SHAREBUS_PG_PASSWORD=mine\nOTHER=1")
    first = write_env(COMPOSE, env_file)
    wanted = set(compose_secrets(COMPOSE))
    assert {
        "SHAREBUS_KAFKA_ADMIN_PASSWORD",
        "SHAREBUS_CONNECT_REST_PASSWORD",
        "CLICKHOUSE_PASSWORD",
    } <= wanted
    assert "SHAREBUS_PSEUDONYM_KEY" in wanted
    assert set(first.generated) == wanted - {"SHAREBUS_PG_PASSWORD"} and first.kept == (
        "SHAREBUS_PG_PASSWORD",
    )
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert values["SHAREBUS_PG_PASSWORD"] == "mine" and values["OTHER"] == "1"
    assert len({values[n] for n in first.generated}) == len(first.generated)  # each its own
    assert all(re.fullmatch(r"[0-9a-f]{48}", values[n]) for n in first.generated)  # 192 bits, hex
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    again = write_env(COMPOSE, env_file)
    assert again.generated == () and env_file.read_text().count("SHAREBUS_KAFKA_ADMIN_PASSWORD=") == 1
