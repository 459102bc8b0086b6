"""The local Kafka Connect worker: distributed mode, Debezium on its plugin.path, REST on a port."""

from __future__ import annotations

import os
from pathlib import Path

import requests

from connectors.client import connect_login
from sharebus.core import naming
from sharebus.core.kafka_clients import Role, connect_password_ref, java_client_properties
from sharebus.core.keys import write_secret
from sharebus.core.naming import CONNECT_CONFIG_TOPIC, CONNECT_OFFSET_TOPIC, CONNECT_STATUS_TOPIC
from sharebus.core.process import PidRecord, spawn
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.jvm import java_argv, write_properties
from sharebus.dev.stack.system import ensure_java

REST_AUTH_EXTENSION = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
REST_USERS_FILE, REST_JAAS_FILE = "connect-rest-users.properties", "connect-rest-jaas.conf"
# Connect must list these plugins before the stack calls it healthy.
REQUIRED_PLUGINS = (
    "io.debezium.connector.postgresql.PostgresConnector",
    "io.debezium.connector.mariadb.MariaDbConnector",
)


class Connect(Component):
    name = "connect"
    port_setting = "SHAREBUS_CONNECT_URL"
    start_timeout = 120.0

    @property
    def port(self) -> int:
        return self.settings.connect_port

    @property
    def endpoint(self) -> str:
        return self.settings.connect_url.rstrip("/")

    @property
    def config_file(self) -> Path:
        return self.layout.conf / "connect-distributed.properties"

    @property
    def marker(self) -> str:
        return str(self.config_file)

    def _properties(self) -> dict[str, object]:
        secrets = self.settings.secrets_dir
        # The worker's own clients and the producers/consumers/admins it makes for connectors all
        # authenticate as the Connect principal; the password stays in the secrets dir.
        password = connect_password_ref(self.settings)
        security: dict[str, object] = {}
        for prefix in ("", "producer.", "consumer.", "admin."):
            security |= java_client_properties(self.settings, Role.CONNECT, password, prefix)
        return {
            "bootstrap.servers": self.settings.kafka_bootstrap,
            **security,
            "group.id": self.settings.connect_group_id,
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            # Connect creates its internal topics itself, compacted.
            "config.storage.topic": CONNECT_CONFIG_TOPIC,
            "offset.storage.topic": CONNECT_OFFSET_TOPIC,
            "status.storage.topic": CONNECT_STATUS_TOPIC,
            "config.storage.replication.factor": self.settings.replication_factor,
            "offset.storage.replication.factor": self.settings.replication_factor,
            "status.storage.replication.factor": self.settings.replication_factor,
            "offset.storage.partitions": 5,
            "status.storage.partitions": 1,
            "offset.flush.interval.ms": 1000,
            "listeners": f"http://127.0.0.1:{self.port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": self.port,
            "plugin.path": self.layout.plugins,
            "plugin.discovery": "service_load",
            "topic.creation.enable": "true",
            # A single worker: reassign a restarted worker's tasks at once.
            "scheduled.rebalance.max.delay.ms": 0,
            # Secrets reach connector configs as ${dir:<secrets dir>:<name>}, never in clear.
            "config.providers": "dir",
            "config.providers.dir.class": "org.apache.kafka.common.config.provider.DirectoryConfigProvider",
            "config.providers.dir.param.allowed.paths": secrets,
            # Every REST request logs in (HTTP basic auth against `rest_users`).
            "rest.extension.classes": REST_AUTH_EXTENSION,
        }

    @property
    def rest_jaas(self) -> Path:
        """The REST login's JAAS config (beside the worker's config, never in the secrets dir
        connectors may reference)."""
        return self.layout.conf / REST_JAAS_FILE

    def prepare(self, echo: Echo) -> None:
        self.settings.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        password = self.settings.kafka_connect_password.get_secret_value()
        write_secret(self.settings.secrets_dir, naming.CONNECT_PASSWORD_SECRET, password)
        protocol = self.settings.kafka_security_protocol  # what connectors' own clients speak
        write_secret(self.settings.secrets_dir, naming.KAFKA_PROTOCOL_SECRET, protocol)
        write_properties(self.config_file, self._properties())
        write_rest_login(self.settings, self.layout.conf)

    def launch(self) -> PidRecord:
        java = ensure_java(lambda line: None)
        argv = java_argv(
            java,
            self.layout,
            self.settings.connect_heap,
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.config_file),
            properties=(f"-Djava.security.auth.login.config={self.rest_jaas}",),
        )
        return spawn(
            argv,
            log_file=self.log_file,
            pid_file=self.layout.pid_file(self.name),
            marker=self.marker,
            cwd=self.layout.root,
        )

    def probe(self) -> str | None:
        try:
            resp = requests.get(
                f"{self.endpoint}/connector-plugins", timeout=3, auth=connect_login(self.settings)
            )
        except requests.RequestException as exc:
            return f"REST not answering ({type(exc).__name__})"
        if resp.status_code != 200:
            return f"REST answered {resp.status_code}"
        classes = {p.get("class") for p in resp.json()}
        missing = [c for c in REQUIRED_PLUGINS if c not in classes]
        if missing:
            return f"plugins missing from plugin.path: {', '.join(missing)}"
        return None


def write_rest_login(settings: Settings, directory: Path) -> Path:
    """The REST API's login in `directory`: the users file (`user=password`, mode 600) and the JAAS
    config naming it (Kafka's PropertyFileLoginModule), whose path Connect's JVM gets as
    java.security.auth.login.config; returns that path. The local stack and docker-compose.yml's
    kafka-principals write it alike."""
    directory.mkdir(parents=True, exist_ok=True)
    user, password = connect_login(settings)
    users = directory / REST_USERS_FILE
    fd = os.open(users, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{user}={password}\n")
    jaas = directory / REST_JAAS_FILE
    module = "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule"
    jaas.write_text(f'KafkaConnect {{\n  {module} required\n  file="{users}";\n}};\n')
    return jaas
