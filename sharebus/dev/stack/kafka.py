"""The local Kafka broker: a single KRaft node (broker + controller) with a formatted log dir."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from sharebus.apps.acl.sync import ensure_service_principals
from sharebus.core.errors import ComponentError
from sharebus.core.kafka_clients import JAVA_SCRAM_LOGIN, MECHANISM, admin_client, kafka_config
from sharebus.core.process import PidRecord, require_port_free, spawn
from sharebus.core.progress import Echo
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.jvm import java_argv, write_properties
from sharebus.dev.stack.system import ensure_java


class Kafka(Component):
    name = "kafka"
    port_setting = "SHAREBUS_KAFKA_BOOTSTRAP"
    start_timeout = 90.0

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def endpoint(self) -> str:
        # The first bootstrap address: 127.0.0.1 for the local stack, `kafka:9092` in a container.
        return self.settings.kafka_bootstrap.split(",")[0]

    @property
    def config_file(self) -> Path:
        return self.layout.conf / "kafka-server.properties"

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir("kafka")

    @property
    def marker(self) -> str:
        return str(self.config_file)

    def _listeners(self) -> dict[str, object]:
        port, cport, public = self.port, self.settings.kafka_controller_port, self.settings.kafka_public_port
        if not self.settings.kafka_secure:
            return {
                "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            }
        user = self.settings.kafka_admin_user
        password = self.settings.kafka_admin_password.get_secret_value()
        return {
            # INTERNAL: the bus's own components; EXTERNAL: districts; both SCRAM. The controller
            # listener takes PLAIN from the broker itself only (KRaft controllers cannot use SCRAM).
            "listeners": (
                f"INTERNAL://127.0.0.1:{port},EXTERNAL://127.0.0.1:{public},CONTROLLER://127.0.0.1:{cport}"
            ),
            "advertised.listeners": (
                f"INTERNAL://127.0.0.1:{port},EXTERNAL://{self.settings.kafka_public_bootstrap.split(',')[0]}"
            ),
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": (
                "CONTROLLER:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"
            ),
            "sasl.mechanism.controller.protocol": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required"
                f' username="{user}" password="{password}" user_{user}="{password}";'
            ),
            "listener.name.internal.sasl.enabled.mechanisms": MECHANISM,
            f"listener.name.internal.{MECHANISM.lower()}.sasl.jaas.config": (
                f'{JAVA_SCRAM_LOGIN} required username="{user}" password="{password}";'
            ),
            "listener.name.external.sasl.enabled.mechanisms": MECHANISM,
            f"listener.name.external.{MECHANISM.lower()}.sasl.jaas.config": f"{JAVA_SCRAM_LOGIN} required;",
            # Re-authenticate sessions: a rotated or disabled credential stops working within this.
            "connections.max.reauth.ms": 60_000,
            # Deny by default: only the super user and what `sharebus acl sync` grants.
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{user}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _properties(self) -> dict[str, object]:
        cport = self.settings.kafka_controller_port
        return {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "controller.listener.names": "CONTROLLER",
            **self._listeners(),
            "log.dirs": self.data_dir,
            "num.partitions": self.settings.kafka_partitions,
            # Topics are created deliberately (Connect topic.creation, the router's admin):
            # a mistyped name fails instead of silently creating a topic.
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 5,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "log.retention.hours": 168,
            "log.cleaner.threads": 1,
        }

    def prepare(self, echo: Echo) -> None:
        require_port_free(self.name, self.settings.kafka_controller_port, "SHAREBUS_KAFKA_CONTROLLER_PORT")
        if self.settings.kafka_secure:
            require_port_free(self.name, self.settings.kafka_public_port, "SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP")
        write_properties(self.config_file, self._properties())
        self.config_file.chmod(0o600)  # holds the admin password
        if (self.data_dir / "meta.properties").exists():
            self._require_scram_bootstrap()
            return
        echo(f"formatting the KRaft log dir {self.data_dir}…")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        java = ensure_java(echo)
        # `--cluster-id=<id>`: a random id may start with "-", which argparse would take for an option.
        argv = java_argv(
            java,
            self.layout,
            "256m",
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(self.config_file),
        )
        if self.settings.kafka_secure:
            # The super user's SCRAM credential must exist before the broker can authenticate anyone.
            user, password = self.settings.kafka_admin_user, self.settings.kafka_admin_password
            argv += ["--add-scram", f"{MECHANISM}=[name={user},password={password.get_secret_value()}]"]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ComponentError(
                self.name,
                "formatting the KRaft log dir failed",
                fix=f"remove {self.data_dir} and retry `sharebus stack up`",
                details=(proc.stdout + proc.stderr)[-2000:],
            )
        self._scram_marker.write_text(self.settings.kafka_admin_user + "\n")

    @property
    def _scram_marker(self) -> Path:
        return self.data_dir / "sharebus-scram-admin"

    def _require_scram_bootstrap(self) -> None:
        if not self.settings.kafka_secure or self._scram_marker.exists():
            return
        raise ComponentError(
            self.name,
            "the KRaft log dir was formatted without SCRAM credentials",
            expected=f"{self.data_dir} formatted with the super user {self.settings.kafka_admin_user}",
            actual="formatted before SASL was turned on: no principal could log in",
            fix=(
                f"remove {self.data_dir} (its topics are lost) and run `sharebus stack up` again,"
                " or set SHAREBUS_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"
            ),
        )

    def start(self, echo: Echo) -> str:
        action = super().start(echo)
        if action != "started":
            self.after_healthy(echo)  # settings may name new service passwords
        return action

    def after_healthy(self, echo: Echo) -> None:
        if self.settings.kafka_secure:
            ensure_service_principals(self.settings)

    def launch(self) -> PidRecord:
        java = ensure_java(lambda line: None)
        argv = java_argv(java, self.layout, self.settings.kafka_heap, "kafka.Kafka", str(self.config_file))
        return spawn(
            argv,
            log_file=self.log_file,
            pid_file=self.layout.pid_file(self.name),
            marker=self.marker,
            cwd=self.layout.root,
        )

    def probe(self) -> str | None:
        try:
            conf = {**kafka_config(self.settings), "bootstrap.servers": self.endpoint}
            meta = admin_client(conf, **{"socket.timeout.ms": 2000}).list_topics(timeout=2)
        except Exception as exc:
            if "Authentication failed" in str(exc) or "SASL" in str(exc):
                return (
                    f"SASL login of {self.settings.kafka_admin_user} refused ({exc}): is"
                    " SHAREBUS_KAFKA_ADMIN_PASSWORD the one the log dir was formatted with?"
                )
            return f"no metadata ({exc})"
        if not meta.brokers:
            return "metadata lists no broker"
        return None
