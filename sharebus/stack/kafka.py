"""The local Kafka broker: a single KRaft node (broker + controller) with a formatted log dir."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from sharebus.errors import ComponentError
from sharebus.progress import Echo
from sharebus.stack.component import Component
from sharebus.stack.jvm import java_argv, write_properties
from sharebus.stack.process import PidRecord, require_port_free, spawn
from sharebus.stack.system import ensure_java

_QUIET = logging.getLogger("sharebus.stack.kafka.probe")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def admin_client(bootstrap: str, **extra: object) -> AdminClient:
    """An AdminClient that does not spray librdkafka connection errors on stderr."""
    conf: dict[str, object] = {"bootstrap.servers": bootstrap, "logger": _QUIET, **extra}
    return AdminClient(conf)  # type: ignore[arg-type]  # `logger` takes a Logger object


class Kafka(Component):
    name = "kafka"
    port_setting = "SHAREBUS_KAFKA_BOOTSTRAP"
    start_timeout = 90.0

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.layout.conf / "kafka-server.properties"

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir("kafka")

    @property
    def marker(self) -> str:
        return str(self.config_file)

    def _properties(self) -> dict[str, object]:
        port, cport = self.port, self.settings.kafka_controller_port
        return {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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
        require_port_free(self.name, self.settings.kafka_controller_port,
                          "SHAREBUS_KAFKA_CONTROLLER_PORT")  # fmt: skip
        write_properties(self.config_file, self._properties())
        if (self.data_dir / "meta.properties").exists():
            return
        echo(f"formatting the KRaft log dir {self.data_dir}…")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        java = ensure_java(echo)
        # `--cluster-id=<id>`: a random id may start with "-", which argparse would take for an option.
        argv = java_argv(java, self.layout, "256m", "kafka.tools.StorageTool", "format",
                         f"--cluster-id={cluster_id}", "-c", str(self.config_file))  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ComponentError(
                self.name,
                "formatting the KRaft log dir failed",
                fix=f"remove {self.data_dir} and retry `sharebus stack up`",
                details=(proc.stdout + proc.stderr)[-2000:],
            )

    def launch(self) -> PidRecord:
        java = ensure_java(lambda line: None)
        argv = java_argv(java, self.layout, self.settings.kafka_heap, "kafka.Kafka",
                         str(self.config_file))  # fmt: skip
        return spawn(argv, log_file=self.log_file, pid_file=self.layout.pid_file(self.name),
                     marker=self.marker, cwd=self.layout.root)  # fmt: skip

    def probe(self) -> str | None:
        try:
            meta = admin_client(self.endpoint, **{"socket.timeout.ms": 2000}).list_topics(timeout=2)
        except Exception as exc:
            return f"no metadata ({exc})"
        if not meta.brokers:
            return "metadata lists no broker"
        return None
