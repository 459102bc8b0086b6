"""Operating registered connectors: status with the log the database retains for them, and
removal that (with --drop-slot) leaves no slot, publication, offsets, history or secret behind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.client import ConnectClient, ConnectorState
from connectors.registered import (
    connector_config,
    kind_of,
    not_registered,
    spec_of,
    target_of,
)
from connectors.render import MARIADB, CaptureSpec
from connectors.source import Retention
from connectors.sources import open_source
from connectors.topics import delete_topics, department_topics
from sharebus.core import naming
from sharebus.core.errors import SharebusError
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings


@dataclass(frozen=True)
class StatusReport:
    """A connector's state and tasks, its last error in brief, and its retained log."""

    state: ConnectorState
    kind: str | None
    retention: Retention | None
    retention_note: str | None  # why the retention is unknown
    warn_bytes: int

    @property
    def over_threshold(self) -> bool:
        return self.retention is not None and self.retention.over(self.warn_bytes)

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        return {
            "name": s.name,
            "kind": self.kind,
            "state": s.state,
            "running": s.running,
            "tasks": [{"id": t.id, "state": t.state} for t in s.tasks],
            "error": s.error_summary(),
            "retention": self.retention.to_dict() if self.retention else None,
            "retention_note": self.retention_note,
            "warn_bytes": self.warn_bytes,
            "warning": self.over_threshold,
        }


def connector_status(settings: Settings, name: str, *, warn_bytes: int) -> StatusReport:
    client = ConnectClient.of(settings)
    state = client.status(name)
    if state is None:
        raise not_registered(name)
    config = client.config(name) or {}
    kind = kind_of(config)
    retention, note = None, None
    if kind is not None and _captures(config):
        try:
            spec = spec_of(name, config)
            retention = open_source(target_of(spec, config, secrets_dir=settings.secrets_dir)).retention(spec)
        except SharebusError as exc:  # status still reports Connect's view
            note = f"{exc.subject}: {exc.problem}"
    return StatusReport(state, kind, retention, note, warn_bytes)


def remove(settings: Settings, name: str, *, drop_slot: bool, echo: Echo) -> list[str]:
    """Delete the connector; with `drop_slot`, also its offsets, replication slot and publication
    (PostgreSQL) or schema history (MariaDB), and its password file. What was removed."""
    client = ConnectClient.of(settings)
    config = connector_config(client, name)
    if not drop_slot:
        client.delete(name)
        return [f"connector {name} (slot, offsets and topics kept: re-adding resumes where it stopped)"]
    spec: CaptureSpec | None = None
    target = None
    if kind_of(config) is not None and _captures(config):
        spec = spec_of(name, config)
        # the password read before its secret file goes
        target = target_of(spec, config, secrets_dir=settings.secrets_dir)
    client.purge(name)
    done = [f"connector {name} and its offsets"]
    echo(f"  removed {done[0]}")
    if spec is None or target is None:
        return done
    for what in open_source(target).drop_capture_state(spec):
        echo(f"  {what}" if what.startswith("(") else f"  dropped {what}")
        done.append(what)
    if spec.kind == MARIADB:
        history = department_topics(kafka_config(settings), spec) & {spec.schema_history_topic}
        for topic in delete_topics(kafka_config(settings), history):
            echo(f"  deleted schema history topic {topic}")
            done.append(f"schema history topic {topic}")
    # Only the connector's own files in the bus's secrets dir: never a path its config names.
    for own in (
        spec.password_secret,
        naming.db_target_record(spec.department),
        naming.db_truststore_secret(spec.department),
    ):
        path = settings.secrets_dir / own
        if path.exists():
            path.unlink()
            done.append(f"secret {own}")
    return done


def _captures(config: Mapping[str, str]) -> bool:
    """A connector whose topic prefix is a department's raw prefix (one sharebus rendered)."""
    return naming.department_of_raw_prefix(config.get("topic.prefix", "")) is not None
