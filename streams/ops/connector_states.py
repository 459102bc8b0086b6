"""Capture health: every Kafka Connect connector's state and tasks, its last error in brief, and the
log its database retains for it (replication slot WAL, binlog), as `connectors status` reports."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from connectors.client import ConnectClient
from connectors.operate import connector_status
from connectors.slots import DEFAULT_WARN_BYTES
from sharebus.core import naming
from sharebus.core.errors import SharebusError
from sharebus.core.settings import Settings
from streams.ops.model import iso


@dataclass(frozen=True)
class ConnectorsSample:
    at: float
    items: tuple[dict[str, Any], ...] = ()
    error: str | None = None  # Connect itself did not answer
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sampled_at": iso(self.at),
            "error": self.error,
            "items": list(self.items),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ConnectorSampler:
    """Blocking (REST calls and one database login per connector): run it seldom, off the loop."""

    settings: Settings
    warn_bytes: int = DEFAULT_WARN_BYTES

    def sample(self) -> ConnectorsSample:
        started, at = time.monotonic(), time.time()
        try:
            names = ConnectClient.of(self.settings).names()
        except SharebusError as exc:
            return ConnectorsSample(at, (), f"{exc.subject}: {exc.problem}", time.monotonic() - started)
        items = [self._one(name) for name in names]
        return ConnectorsSample(at, tuple(items), None, time.monotonic() - started)

    def _one(self, name: str) -> dict[str, Any]:
        department = naming.department_of_connector(name) or ""
        try:
            report = connector_status(self.settings, name, warn_bytes=self.warn_bytes).to_dict()
        except SharebusError as exc:
            return {
                "name": name,
                "department": department,
                "kind": None,
                "state": "UNKNOWN",
                "running": False,
                "tasks": [],
                "error": f"{exc.subject}: {exc.problem}",
                "retention": None,
                "retention_note": None,
                "warning": False,
            }
        return {**report, "department": department}
