"""Snapshot notifications: parsing, the execute-snapshot signal, and following a snapshot."""

from __future__ import annotations

import json

from connectors.snapshot import INCREMENTAL, Notification, SnapshotSummary, execute_snapshot_data, follow


def note(kind: str, **data: str) -> Notification:
    return Notification("sig-1", INCREMENTAL, kind, data, 1)


class FakeReader:
    def __init__(self, batches: list[list[Notification]]) -> None:
        self.batches = batches

    def poll(self, seconds: float) -> list[Notification]:
        return self.batches.pop(0) if self.batches else []


def test_notifications_parse_and_junk_is_ignored() -> None:
    value = json.dumps(
        {
            "id": "x",
            "aggregate_type": "Initial Snapshot",
            "type": "COMPLETED",
            "additional_data": {"connector_name": "c"},
            "timestamp": "1695817046353",
        }
    )
    parsed = Notification.parse(value.encode())
    assert parsed == Notification(
        "x", "Initial Snapshot", "COMPLETED", {"connector_name": "c"}, 1695817046353
    )
    assert Notification.parse(b"not json") is None and Notification.parse(None) is None


def test_execute_snapshot_signal_carries_the_condition() -> None:
    data = json.loads(execute_snapshot_data("public.t", "district_code = '500101'"))
    assert data == {
        "data-collections": ["public.t"],
        "type": "incremental",
        "additional-conditions": [{"data-collection": "public.t", "filter": "district_code = '500101'"}],
    }
    assert "additional-conditions" not in json.loads(execute_snapshot_data("public.t", None))


def test_follow_counts_rows_until_completed_and_ignores_other_signals() -> None:
    other = Notification("sig-2", INCREMENTAL, "COMPLETED", {}, 1)
    reader = FakeReader(
        [
            [note("STARTED", data_collections="public.t"), other],
            [note("IN_PROGRESS", current_collection_in_progress="public.t")],
            [note("TABLE_SCAN_COMPLETED", scanned_collection="public.t", total_rows_scanned="7")],
            [note("COMPLETED")],
        ]
    )
    lines: list[str] = []
    summary = follow(reader, SnapshotSummary(INCREMENTAL), lines.append, timeout=10, match="sig-1")  # type: ignore[arg-type]
    assert summary.status == "COMPLETED" and summary.rows == {"public.t": 7}
    assert any("7 rows scanned" in line for line in lines)


def test_follow_gives_up_after_the_timeout() -> None:
    summary = follow(FakeReader([]), SnapshotSummary(INCREMENTAL), lambda s: None, timeout=0.5)  # type: ignore[arg-type]
    assert summary.status == "NOT SEEN" and not summary.finished
