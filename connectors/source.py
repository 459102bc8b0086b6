"""What onboarding and operations need from a department database, whatever its kind: preflight
with the steps it implies, column types for catalog drafts, log retention, signals, clean-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from connectors.dburl import DbTarget
from connectors.preflight import Preflight
from connectors.render import CaptureSpec


@dataclass(frozen=True)
class Column:
    """A column of a captured table as the database declares it."""

    name: str
    data_type: str  # the database's own type name, lower-case (varchar, int8, datetime…)
    nullable: bool
    primary_key: bool
    comment: str = ""


@dataclass(frozen=True)
class Retention:
    """How much log the database keeps for a connector, and how far behind the connector is."""

    kind: str  # "replication slot" | "binlog"
    name: str
    active: bool | None
    retained_bytes: int | None
    lag_bytes: int | None
    detail: str = ""

    def over(self, threshold: int) -> bool:
        return (self.retained_bytes or 0) > threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "active": self.active,
            "retained_bytes": self.retained_bytes,
            "lag_bytes": self.lag_bytes,
            "detail": self.detail,
        }


class Source(Protocol):
    """A department database of one kind, reached as the user Debezium connects as."""

    target: DbTarget

    def preflight(
        self, spec: CaptureSpec, *, connector_exists: bool, history_topic_exists: bool
    ) -> Preflight:
        """Every check, and the steps (with their undo) onboarding takes when they pass."""

    def columns(self, tables: tuple[str, ...]) -> dict[str, tuple[Column, ...]]:
        """Columns of each table, in declaration order."""

    def retention(self, spec: CaptureSpec) -> Retention | None:
        """The log the database retains for the connector (None when not applicable)."""

    def drop_capture_state(self, spec: CaptureSpec) -> list[str]:
        """Drop what capture leaves in the database (slot, publication); what was dropped."""

    def send_signal(self, spec: CaptureSpec, signal_id: str, signal_type: str, data: str) -> None:
        """Insert a Debezium signal into the connector's signal table."""
