"""PostgreSQL replication slots of connectors: retained WAL and lag against pg_current_wal_lsn(),
waiting for a slot to be released, and dropping it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

DEFAULT_WARN_BYTES = 1 << 30  # 1 GiB of retained WAL: worth a look before the disk fills


@dataclass(frozen=True)
class SlotStatus:
    """A slot as `pg_replication_slots` reports it, sized against the current WAL position."""

    name: str
    active: bool
    retained_bytes: int | None  # current LSN - restart_lsn: WAL the server keeps for this slot
    lag_bytes: int | None  # current LSN - confirmed_flush_lsn: changes not yet acknowledged
    wal_status: str | None  # reserved | extended | unreserved | lost

    def over(self, threshold: int) -> bool:
        return (self.retained_bytes or 0) > threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_STATUS_SQL = """
SELECT active,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint,
       wal_status
FROM pg_replication_slots WHERE slot_name = %s
"""


def slot_status(conn: psycopg.Connection[Any], slot: str) -> SlotStatus | None:
    row = conn.execute(_STATUS_SQL, (slot,)).fetchone()
    if row is None:
        return None
    active, retained, lag, wal_status = row
    return SlotStatus(slot, bool(active), retained, lag, wal_status)


def wait_inactive(conn: psycopg.Connection[Any], slot: str, timeout: float = 30.0) -> bool:
    """Wait until no session streams from `slot` (or it is gone); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        if row is None or not row[0]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def drop_slot(conn: psycopg.Connection[Any], slot: str, *, timeout: float = 30.0) -> bool:
    """Drop `slot` once released; a walsender still holding it after `timeout` is terminated.
    False if there was no such slot."""
    if not wait_inactive(conn, slot, timeout):
        conn.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
            " WHERE slot_name = %s AND active_pid IS NOT NULL",
            (slot,),
        )
        wait_inactive(conn, slot, 10.0)
    row = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    if row is None:
        return False
    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    return True
