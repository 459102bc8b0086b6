"""Snapshots seen through Debezium's notifications (the `sink` channel, a Kafka topic per
connector): initial-snapshot progress after onboarding, and incremental snapshots started through
the signal channel (`execute-snapshot`, optionally with a WHERE condition), tracked to completion."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from connectors.errors import SnapshotError
from connectors.render import CaptureSpec
from connectors.source import Source
from sharebus.core import naming
from sharebus.core.kafka_clients import watermarks
from sharebus.core.progress import Echo

INITIAL = "Initial Snapshot"
INCREMENTAL = "Incremental Snapshot"
DONE = frozenset({"COMPLETED", "ABORTED", "SKIPPED"})


@dataclass(frozen=True)
class Notification:
    """One Debezium notification (https://debezium.io/documentation: "Debezium notifications")."""

    id: str
    aggregate_type: str
    type: str
    data: dict[str, str]
    timestamp_ms: int

    @classmethod
    def parse(cls, value: bytes | None) -> Notification | None:
        if not value:
            return None
        try:
            raw = json.loads(value)
            return cls(
                str(raw["id"]),
                str(raw["aggregate_type"]),
                str(raw["type"]),
                {str(k): str(v) for k, v in (raw.get("additional_data") or {}).items()},
                int(raw.get("timestamp") or 0),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class SnapshotSummary:
    """How a snapshot went: its final type, rows scanned per table, and how long it took."""

    kind: str
    status: str = "NOT SEEN"  # COMPLETED | ABORTED | SKIPPED | NOT SEEN (timed out)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    signal_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in DONE

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "rows": self.rows,
            "seconds": round(self.seconds, 2),
            "signal_id": self.signal_id,
        }


class NotificationReader:
    """Reads a connector's notification topic; only notifications written after it was opened
    (or, with `since_ms`, stamped at or after that instant)."""

    def __init__(self, kafka: Mapping[str, object], topic: str, *, since_ms: int | None = None) -> None:
        self.topic = topic
        self.since_ms = since_ms
        self.consumer = Consumer(
            {
                **kafka,
                "group.id": naming.notification_reader_group(uuid.uuid4().hex[:8]),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.assigned = False
        self._assign(start_at_end=since_ms is None)

    def _assign(self, *, start_at_end: bool) -> None:
        try:
            meta = self.consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
        except KafkaException:
            return
        if meta is None or meta.error is not None or not meta.partitions:
            return  # not created yet: everything it will hold is new
        parts = []
        for p in meta.partitions:
            low, high = watermarks(self.consumer, TopicPartition(self.topic, p), timeout=10)
            parts.append(TopicPartition(self.topic, p, high if start_at_end else low))
        self.consumer.assign(parts)
        self.assigned = True

    def poll(self, seconds: float) -> list[Notification]:
        if not self.assigned:
            self._assign(start_at_end=False)
            if not self.assigned:
                time.sleep(min(seconds, 0.5))
                return []
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(max(0.05, deadline - time.monotonic()))
            if msg is None:
                break
            if msg.error():
                continue
            note = Notification.parse(msg.value())
            if note is not None and (self.since_ms is None or note.timestamp_ms >= self.since_ms):
                out.append(note)
        return out

    def close(self) -> None:
        self.consumer.close()


def _describe(note: Notification) -> str:
    d = note.data
    if note.type == "IN_PROGRESS":
        table = d.get("current_collection_in_progress", "")
        last = d.get("last_processed_key") or ""
        return f"{table} in progress" + (
            f" (up to key {last} of {d['maximum_key']})" if d.get("maximum_key") else ""
        )
    if note.type == "TABLE_SCAN_COMPLETED":
        table = d.get("scanned_collection") or d.get("data_collection") or d.get("data_collections", "")
        return f"{table}: {d.get('total_rows_scanned', '?')} rows scanned ({d.get('status', 'done')})"
    return f"{note.type.lower()} " + d.get("data_collections", "")


def follow(
    reader: NotificationReader,
    summary: SnapshotSummary,
    echo: Echo,
    *,
    timeout: float,
    match: str | None = None,
) -> SnapshotSummary:
    """Read notifications of `summary.kind` (and id `match`) until the snapshot ends or `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and not summary.finished:
        for note in reader.poll(1.0):
            if note.aggregate_type != summary.kind or (match is not None and note.id != match):
                continue
            if note.type == "TABLE_SCAN_COMPLETED":
                table = note.data.get("scanned_collection") or note.data.get("data_collection", "?")
                summary.rows[table] = int(note.data.get("total_rows_scanned") or 0)
            if note.type in DONE:
                summary.status = note.type
            echo(f"  snapshot: {_describe(note)}")
    summary.seconds = time.monotonic() - started
    return summary


def execute_snapshot_data(table: str, where: str | None) -> str:
    """The `data` of an `execute-snapshot` signal: one table, incremental, optional condition."""
    data: dict[str, Any] = {"data-collections": [table], "type": "incremental"}
    if where:
        data["additional-conditions"] = [{"data-collection": table, "filter": where}]
    return json.dumps(data)


def resnapshot(
    source: Source,
    spec: CaptureSpec,
    kafka: Mapping[str, object],
    table: str,
    where: str | None,
    echo: Echo,
    *,
    timeout: float = 600.0,
) -> SnapshotSummary:
    """Signal an incremental snapshot of `table` (rows matching `where`) and follow it to its end;
    SnapshotError if it is aborted or not seen to finish within `timeout`."""
    signal_id = f"sharebus-{uuid.uuid4()}"
    reader = NotificationReader(kafka, spec.notification_topic)
    try:
        source.send_signal(spec, signal_id, "execute-snapshot", execute_snapshot_data(table, where))
        echo(f"signalled incremental snapshot {signal_id} of {table}" + (f" where {where}" if where else ""))
        summary = follow(
            reader, SnapshotSummary(INCREMENTAL, signal_id=signal_id), echo, timeout=timeout, match=signal_id
        )
    finally:
        reader.close()
    if summary.status != "COMPLETED":
        raise SnapshotError(
            f"incremental snapshot {signal_id} of {table} ({spec.connector_name})",
            "aborted" if summary.status == "ABORTED" else f"not finished after {timeout:.0f}s",
            expected="a COMPLETED notification on " + spec.notification_topic,
            actual=summary.status,
            fix=f"check `sharebus connectors status {spec.connector_name}` and the connector log;"
            " a WHERE condition must be valid SQL for the source database",
        )
    return summary
