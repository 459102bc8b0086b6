"""Testcontainers backend: Kafka, PostgreSQL and Kafka Connect as Docker containers (tests only)."""

# Used only when SHAREBUS_TEST_BACKEND=docker and `docker_available()`; the default backend is the
# local process stack. Each service (image, command, environment, healthcheck) is read from
# docker-compose.yml, so this backend runs the stack Compose runs; only host-facing bits differ.
# testcontainers and docker are imported inside functions: importing this module needs no engine.

from __future__ import annotations

import contextlib
import os
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import SecretStr

from sharebus.core import naming
from sharebus.core.errors import ComponentError, ConfigError, SharebusError
from sharebus.core.naming import CONTAINER_SECRETS_DIR, CONTAINER_TLS_DIR
from sharebus.core.settings import ENV_PREFIX, Settings

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

COMPOSE_FILE = Path(__file__).resolve().parents[3] / "docker-compose.yml"
# Start order: Connect needs a healthy Kafka and the service principals (Compose's one-shot
# `kafka-principals` service, done here from the host between the two: see `start`).
SERVICES = ("kafka", "postgres", "connect")
PUBLIC_LISTENER = "EXTERNAL"  # Kafka's listener for districts (SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP)
STARTUP_TIMEOUT_S = 180

Service = dict[str, Any]  # one entry of docker-compose.yml's `services`
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def docker_available() -> bool:
    """True only if a Docker engine answers a ping; never raises."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def compose_services(path: Path = COMPOSE_FILE) -> dict[str, Service]:
    """The `services` mapping of docker-compose.yml (in a source checkout; not in the wheel)."""
    try:
        services = yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
        return {str(name): dict(service) for name, service in services.items()}
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigError(
            str(path),
            "cannot read the Compose services",
            expected="a docker-compose.yml with a `services` mapping",
            actual=f"{type(exc).__name__}: {exc}",
            fix="run the docker backend from a sharebus source checkout",
        ) from exc


def interpolate(value: object, settings: Settings) -> str:
    """Resolve `${VAR:-default}` as Compose would, except SHAREBUS_* come from `settings`."""

    def resolve(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2) or ""
        if name.startswith(ENV_PREFIX):
            field = getattr(settings, name.removeprefix(ENV_PREFIX).lower(), None)
            if isinstance(field, SecretStr):
                return field.get_secret_value()
            return default if field is None else str(field)
        return os.environ.get(name) or default

    escaped = str(value).replace("$$", "\0")  # `$$` is a literal `$`, never an interpolation
    return _INTERPOLATION.sub(resolve, escaped).replace("\0", "$")


def _port_pairs(service: Service, settings: Settings) -> list[tuple[int, int]]:
    """(host, container) of each "HOST:CONTAINER" entry of a service's `ports`."""
    pairs = [interpolate(entry, settings).rsplit(":", 1) for entry in service.get("ports", [])]
    return [(int(host.rsplit(":", 1)[-1]), int(container)) for host, container in pairs]


def _listeners(service: Service, settings: Settings, key: str) -> dict[str, str]:
    """Listener name -> address of a Kafka service's KAFKA_LISTENERS / KAFKA_ADVERTISED_LISTENERS."""
    value = interpolate((service.get("environment") or {}).get(key, ""), settings)
    return dict(item.split("://", 1) for item in value.split(",") if "://" in item)


def public_listener(service: Service, settings: Settings) -> tuple[str, int]:
    """(advertised address, bound port) of the Kafka service's district listener."""
    advertised = _listeners(service, settings, "KAFKA_ADVERTISED_LISTENERS").get(PUBLIC_LISTENER)
    bound = _listeners(service, settings, "KAFKA_LISTENERS").get(PUBLIC_LISTENER, "")
    port = bound.rsplit(":", 1)[-1]
    if not advertised or not port.isdigit():
        raise ConfigError(
            "docker-compose.yml kafka",
            f"no {PUBLIC_LISTENER} listener",
            expected=f"{PUBLIC_LISTENER}://… in KAFKA_LISTENERS and KAFKA_ADVERTISED_LISTENERS",
            actual=f"advertised {advertised!r}, bound {bound!r}",
        )
    return advertised, int(port)


def _healthcheck(service: Service, settings: Settings) -> list[str]:
    kind, *args = (interpolate(part, settings) for part in service["healthcheck"]["test"])
    return ["sh", "-c", args[0]] if kind == "CMD-SHELL" else args


def rewrite_environment(
    name: str, service: Service, settings: Settings, rewrites: list[tuple[str, str]]
) -> dict[str, str]:
    """A service's environment, interpolated, with each (old, new) of `rewrites` applied; each old
    string must occur (a Compose change that drops it must fail here, not in a hung container)."""
    env = {k: interpolate(v, settings) for k, v in (service.get("environment") or {}).items()}
    for old, new in rewrites:
        if not any(old in value for value in env.values()):
            raise ConfigError(
                f"docker-compose.yml {name}",
                "no value to rewrite",
                expected=f"an environment value with {old}",
            )
        env = {key: value.replace(old, new) for key, value in env.items()}
    return env


def _service_principals(settings: Settings) -> None:
    """What Compose's one-shot `kafka-principals` service does, from the host: Connect's password
    file for its `${dir:...}` reference, the router's and Connect's SCRAM credentials and ACLs."""
    from sharebus.apps.acl.sync import ensure_service_principals
    from sharebus.core.keys import write_secret

    password = settings.kafka_connect_password.get_secret_value()
    write_secret(settings.secrets_dir, naming.CONNECT_PASSWORD_SECRET, password)
    write_secret(settings.secrets_dir, naming.KAFKA_PROTOCOL_SECRET, settings.kafka_security_protocol)
    ensure_service_principals(settings)


def _certificates(settings: Settings) -> None:
    """What Compose's one-shot `tls` service does. The broker's key is made readable to the image's
    user (uid 1000, not the host's): a throwaway CA of this test run, never the bus's own."""
    from sharebus.dev.stack.tls import Authority

    authority = Authority.of(settings)
    authority.ensure(settings, lambda line: None)
    authority.files("kafka").keystore.chmod(0o644)
    authority.directory.chmod(0o755)
    if os.geteuid() == 0:  # PostgreSQL reads its key only as its own user's (uid 999 in the image)
        os.chown(authority.files("postgres").key, 999, 999)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ContainerStack:
    """Kafka, PostgreSQL and Kafka Connect on one Docker network, as Compose defines them."""

    def __init__(self, compose_file: Path = COMPOSE_FILE) -> None:
        self.compose_file = compose_file
        self.containers: dict[str, DockerContainer] = {}
        self.network: Network | None = None

    def start(self, settings: Settings) -> Settings:
        """Start the services, wait until each is healthy, return settings pointing at them."""
        from testcontainers.core.docker_client import DockerClient
        from testcontainers.core.network import Network

        services = compose_services(self.compose_file)
        kafka = services["kafka"]
        (kafka_published, kafka_target), *_ = _port_pairs(kafka, settings)
        public_address, public_target = public_listener(kafka, settings)
        secrets_dir = settings.secrets_dir.resolve()
        secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tls_dir = settings.tls_home
        kafka_port, public_port = _free_port(), _free_port()
        # Kafka's host listener localhost:<published> (held by test_compose) and its district
        # listener become the engine's host and ports free now; CONTAINER_SECRETS_DIR becomes the
        # host's secrets dir, mounted at its own path, so one SHAREBUS_CONNECT_SECRETS_DIR is right
        # for this writer and Connect (its password reference included).
        try:
            host = DockerClient().host()  # the first call to the engine: inside the try
            rewrites = {
                "kafka": [
                    (f"localhost:{kafka_published}", f"{host}:{kafka_port}"),
                    (f"{PUBLIC_LISTENER}://{public_address}", f"{PUBLIC_LISTENER}://{host}:{public_port}"),
                ],
                "connect": [(CONTAINER_SECRETS_DIR, str(secrets_dir)), (CONTAINER_TLS_DIR, str(tls_dir))],
            }
            # Compose's one-shot `tls`, from the host: the CA and certificates, valid for the
            # engine's host name too, mounted where Compose mounts its tls volume (Kafka) and at
            # their own path for Connect (the CA path in the connector configs is the host's).
            _certificates(settings.model_copy(update={"tls_hostnames": host}))
            # The Compose broker authenticates every client (SASL/SCRAM); the admin is the one its
            # environment (interpolated from `settings`) formats the log dir with.
            ready = settings.model_copy(
                update={
                    "kafka_bootstrap": f"{host}:{kafka_port}",
                    "kafka_public_bootstrap": f"{host}:{public_port}",
                    "kafka_security_protocol": "SASL_SSL",
                    "tls_dir": tls_dir,
                    "connect_secrets_dir": secrets_dir,
                }
            )
            self.network = Network().create()
            for name in SERVICES:
                container = self._container(name, services[name], settings, rewrites.get(name, []))
                if name == "kafka":
                    container.with_bind_ports(kafka_target, kafka_port)
                    container.with_bind_ports(public_target, public_port)
                    container.with_volume_mapping(str(tls_dir), CONTAINER_TLS_DIR, "ro")
                if name == "postgres":
                    container.with_volume_mapping(str(tls_dir), CONTAINER_TLS_DIR, "ro")
                if name == "connect":
                    _service_principals(ready)  # Compose's `kafka-principals`
                    container.with_volume_mapping(secrets_dir, str(secrets_dir), "ro")
                    container.with_volume_mapping(str(tls_dir), str(tls_dir), "ro")
                    # As the host user (the image allows any uid): secret files are owner-only.
                    if hasattr(os, "getuid"):
                        container.with_kwargs(user=f"{os.getuid()}:{os.getgid()}")
                self.containers[name] = container  # registered first: stop() must reach it
                container.start()
        except BaseException as exc:
            self.stop()
            if isinstance(exc, SharebusError) or not isinstance(exc, Exception):
                raise
            raise ComponentError(
                "container stack",
                "a service did not start or become healthy",
                actual=f"{type(exc).__name__}: {exc}",
                fix="see `docker ps -a` and the container logs, or use the local backend",
            ) from exc
        pg, connect = self.containers["postgres"], self.containers["connect"]
        connect_host = connect.get_container_host_ip()
        return ready.model_copy(
            update={
                "connect_url": f"http://{connect_host}:{connect.get_exposed_port(8083)}",
                "pg_host": pg.get_container_host_ip(),
                "pg_port": pg.get_exposed_port(5432),
            }
        )

    def _container(
        self, name: str, service: Service, settings: Settings, rewrites: list[tuple[str, str]]
    ) -> DockerContainer:
        """A not yet started container for one Compose service, reachable by its service name."""
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import ExecWaitStrategy

        assert self.network is not None
        env = rewrite_environment(name, service, settings, rewrites)
        container = (
            DockerContainer(service["image"])
            .with_network(self.network)
            .with_network_aliases(name)
            .with_envs(**env)
            .waiting_for(
                ExecWaitStrategy(_healthcheck(service, settings))
                .with_startup_timeout(STARTUP_TIMEOUT_S)
                .with_poll_interval(2.0)
            )
        )
        # Random host ports (the caller binds Kafka's to the one it advertises); Compose's named
        # volumes (data dirs, secrets) are left out: this stack is thrown away after the tests.
        container.with_exposed_ports(*(target for _, target in _port_pairs(service, settings)))
        command = service.get("command")
        if isinstance(command, list):
            container.with_command([interpolate(part, settings) for part in command])
        elif command is not None:
            container.with_command(interpolate(command, settings))
        return container

    def stop(self) -> None:
        """Remove the containers (newest first), then the network, each despite failures of the
        others (a stuck container must not keep the rest alive); safe to call twice."""
        for name in reversed(list(self.containers)):
            with contextlib.suppress(Exception):
                self.containers.pop(name).stop()
        if self.network is not None:
            with contextlib.suppress(Exception):
                self.network.remove()
            self.network = None
