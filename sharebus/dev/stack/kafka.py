"""The local Kafka: one KRaft node (broker + controller) with a formatted log dir, or one of the
SHAREBUS_KAFKA_BROKERS nodes of a local cluster (one static controller quorum, one cluster id)."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from sharebus.apps.acl.sync import ensure_service_principals
from sharebus.core.errors import ComponentError
from sharebus.core.kafka_clients import (
    JAVA_SCRAM_LOGIN,
    MECHANISM,
    admin_client,
    java_truststore,
    kafka_config,
)
from sharebus.core.process import PidRecord, port_open, require_port_free, spawn
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.jvm import java_argv, write_properties
from sharebus.dev.stack.layout import Layout
from sharebus.dev.stack.system import ensure_java
from sharebus.dev.stack.tls import Authority


def node_name(node: int) -> str:
    """`kafka` for the first node (the single broker), `kafka-<n>` for the others."""
    return "kafka" if node == 1 else f"kafka-{node}"


# Each partition's offset and time index is a sparse file the broker maps whole (10 MiB by
# default). A fault in it reads ahead the block device's read_ahead_kb (8 MiB on this machine's
# disk), so every partition that gets a few KiB of data held ~16 MiB of page cache: at the
# city's ~4,000 partitions that is 64 GiB, and the broker thrashed (kswapd, broker sys time, half
# the routing rate). With 1 MiB a segment rolls at ~340 MiB (an entry per 4 KiB of log, 12
# bytes a time-index entry) instead of 1 GiB: more files for a busy partition, nothing lost.
INDEX_MAX_BYTES = 1 << 20


class Kafka(Component):
    """One KRaft node. Nodes 2… of a cluster start first (a node alone has no quorum): healthy once
    their controller listens; node 1 is healthy once every broker of the cluster is registered."""

    port_setting = "SHAREBUS_KAFKA_BOOTSTRAP"
    start_timeout = 90.0

    def __init__(self, settings: Settings, layout: Layout, node: int = 1) -> None:
        super().__init__(settings, layout)
        self.node = node
        self.name = node_name(node)

    @property
    def nodes(self) -> int:
        return self.settings.kafka_brokers

    def _address(self, bootstrap: str) -> str:
        return bootstrap.split(",")[self.node - 1].strip()

    def _controller_port(self, node: int) -> int:
        return self.settings.kafka_controller_port + 100 * (node - 1)

    @property
    def port(self) -> int:
        return int(self._address(self.settings.kafka_bootstrap).rpartition(":")[2])

    @property
    def endpoint(self) -> str:
        # The node's bootstrap address: 127.0.0.1 for the local stack, `kafka:9092` in a container.
        return self._address(self.settings.kafka_bootstrap)

    @property
    def config_file(self) -> Path:
        stem = "kafka-server" if self.node == 1 else f"{self.name}-server"
        return self.layout.conf / f"{stem}.properties"

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir(self.name)

    @property
    def marker(self) -> str:
        return str(self.config_file)

    def _listeners(self) -> dict[str, object]:
        port, cport = self.port, self._controller_port(self.node)
        public = self._address(self.settings.kafka_public_bootstrap)
        if not self.settings.kafka_secure:
            return {
                "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            }
        user = self.settings.kafka_admin_user
        password = self.settings.kafka_admin_password.get_secret_value()
        protocol = self.settings.kafka_security_protocol
        return {
            # INTERNAL: the bus's own components; EXTERNAL: districts; both SCRAM. The controller
            # listener takes PLAIN from the broker itself only (KRaft controllers cannot use SCRAM).
            "listeners": (
                f"INTERNAL://127.0.0.1:{port},EXTERNAL://127.0.0.1:{public.rpartition(':')[2]},"
                f"CONTROLLER://127.0.0.1:{cport}"
            ),
            "advertised.listeners": f"INTERNAL://127.0.0.1:{port},EXTERNAL://{public}",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": (
                f"CONTROLLER:{protocol},INTERNAL:{protocol},EXTERNAL:{protocol}"
            ),
            **self._tls(),
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

    def _tls(self) -> dict[str, object]:
        """Every listener's TLS (SASL_SSL): this stack's certificate for the broker, its CA for
        the broker's own clients (inter-broker, controller); clients present none (SCRAM is the login)."""
        if not self.settings.kafka_tls:
            return {}
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": Authority.of(self.settings).files("kafka").keystore,
            **java_truststore(self.settings.tls_ca),
            "ssl.client.auth": "none",
            "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        }

    def _properties(self) -> dict[str, object]:
        voters = ",".join(f"{n}@127.0.0.1:{self._controller_port(n)}" for n in range(1, self.nodes + 1))
        # Internal topics (offsets, transactions) and topics created with the broker's defaults are
        # replicated as the bus's own (SHAREBUS_KAFKA_REPLICATION_FACTOR), within the local nodes.
        factor = min(self.settings.replication_factor, self.nodes)
        min_isr = min(self.settings.min_insync_replicas, factor)
        return {
            "process.roles": "broker,controller",
            "node.id": self.node,
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            **self._listeners(),
            "log.dirs": self.data_dir,
            "num.partitions": self.settings.kafka_partitions,
            # Topics are created deliberately (Connect topic.creation, the router's admin):
            # a mistyped name fails instead of silently creating a topic.
            "auto.create.topics.enable": "false",
            "default.replication.factor": factor,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": factor,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": factor,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": 5,
            "share.coordinator.state.topic.replication.factor": factor,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 4 if self.nodes == 1 else 2,
            "num.replica.fetchers": 1,
            "log.retention.hours": 168,
            "log.cleaner.threads": 1,
            "log.index.size.max.bytes": INDEX_MAX_BYTES,
        }

    @property
    def _cluster_id_file(self) -> Path:
        return self.layout.conf / "kafka-cluster-id"

    def _cluster_id(self) -> str:
        """One id for every node of the local cluster (made once, kept beside the configs)."""
        if self._cluster_id_file.exists():
            return self._cluster_id_file.read_text().strip()
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self._cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
        self._cluster_id_file.write_text(cluster_id + "\n")
        return cluster_id

    @property
    def _nodes_marker(self) -> Path:
        return self.data_dir / "sharebus-nodes"

    def _require_same_quorum(self) -> None:
        formatted = self._nodes_marker.read_text().strip() if self._nodes_marker.exists() else "1"
        if formatted == str(self.nodes):
            return
        raise ComponentError(
            self.name,
            "the KRaft log dir was formatted for another number of nodes",
            expected=f"a log dir of a {self.nodes}-node cluster (SHAREBUS_KAFKA_BROKERS={self.nodes})",
            actual=f"{self.data_dir} formatted for {formatted} node(s)",
            fix=(
                f"`sharebus stack down`, remove {self.layout.data_dir('kafka')}* (their topics are lost)"
                f" and {self._cluster_id_file}, then `sharebus stack up`; or set"
                f" SHAREBUS_KAFKA_BROKERS={formatted}"
            ),
        )

    def prepare(self, echo: Echo) -> None:
        require_port_free(self.name, self._controller_port(self.node), "SHAREBUS_KAFKA_CONTROLLER_PORT")
        if self.settings.kafka_secure:
            public = int(self._address(self.settings.kafka_public_bootstrap).rpartition(":")[2])
            require_port_free(self.name, public, "SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP")
        if self.settings.kafka_tls:
            Authority.of(self.settings).ensure(self.settings, echo)
        write_properties(self.config_file, self._properties())
        self.config_file.chmod(0o600)  # holds the admin password
        if (self.data_dir / "meta.properties").exists():
            self._require_same_quorum()
            self._require_scram_bootstrap()
            return
        echo(f"formatting the KRaft log dir {self.data_dir}…")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self._cluster_id()
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
        self._nodes_marker.write_text(f"{self.nodes}\n")

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
        if action != "started" and self.node == 1:
            self.after_healthy(echo)  # settings may name new service passwords
        return action

    def after_healthy(self, echo: Echo) -> None:
        if self.settings.kafka_secure and self.node == 1:
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
        if self.node > 1 and not port_open(self.port):
            # Nodes 2… start before node 1: alone they have no quorum, so no broker listener yet.
            if port_open(self._controller_port(self.node)):
                return None if not port_open(self._controller_port(1)) else "broker rejoining the cluster"
            return "controller not listening yet"
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
        if self.node == 1 and len(meta.brokers) < self.nodes:
            return f"{len(meta.brokers)} of {self.nodes} brokers registered"
        return None
