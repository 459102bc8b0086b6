"""Turn delivered batches' counts into metrics rows (calls, withheld, dead letters, latency; and
each resource's quality figures), tallied per minute between checkpoints."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from streams.metrics.rows import CallRow, QualityRow
from streams.quality_tally import QualityFigures, delivered, merge
from streams.router.batch import BatchOutput, CallKey

MAX_SAMPLES = 200  # latency samples kept per row


class _Tally:
    __slots__ = ("bytes", "latencies", "records")

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0
        self.latencies: list[float] = []


class CallTally:
    """The counts of delivered batches summed per (minute, key) until `drain` (every second, and
    at each checkpoint): the store gets a row per key and drain, not one per batch (a batch
    spread over a city's resources has a key per resource and subscriber, and ten batches a
    second would make the store insert, and merge, each of them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[float, CallKey], _Tally] = {}

    def add(self, out: BatchOutput, delivered_at: float) -> None:
        """Count a delivered batch (from the delivery callback: a lookup and a sum per key)."""
        minute = delivered_at - delivered_at % 60
        now_ms = delivered_at * 1000.0
        with self._lock:
            rows = self._rows
            for key, agg in out.calls.items():
                tally = rows.get((minute, key))
                if tally is None:
                    tally = rows[(minute, key)] = _Tally()
                tally.records += agg.records
                tally.bytes += agg.bytes
                room = MAX_SAMPLES - len(tally.latencies)
                if room > 0 and agg.source_ts_ms:
                    tally.latencies.extend(max(0.0, now_ms - ts) for ts in agg.source_ts_ms[:room])

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def drain(self) -> list[CallRow]:
        """The rows counted since the last drain (and forget them)."""
        with self._lock:
            rows, self._rows = self._rows, {}
        minutes: dict[float, datetime] = {}
        out: list[CallRow] = []
        for (minute, key), tally in rows.items():
            at = minutes.get(minute)
            if at is None:
                at = minutes[minute] = datetime.fromtimestamp(minute, UTC)
            out.append(CallRow(at, *key, tally.records, tally.bytes, tuple(tally.latencies)))
        return out


class QualityTally:
    """Each resource's quality figures of delivered batches, summed per (minute, resource) until
    `drain`, like `CallTally`: timeliness is measured here, when Kafka acknowledged the batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: dict[float, list[QualityFigures]] = {}

    def add(self, out: BatchOutput, delivered_at: float) -> None:
        if out.quality is None:
            return
        tallies = out.quality.tallies()
        if not tallies:
            return
        minute = delivered_at - delivered_at % 60
        delivered_ms = int(delivered_at * 1000)
        figures = [delivered(t, delivered_ms) for t in tallies]
        with self._lock:
            self._figures.setdefault(minute, []).extend(figures)

    def drain(self) -> list[QualityRow]:
        """The rows counted since the last drain, one per minute and resource (and forget them)."""
        with self._lock:
            figures, self._figures = self._figures, {}
        rows: list[QualityRow] = []
        for minute, listed in figures.items():
            at = datetime.fromtimestamp(minute, UTC)
            for f in merge(listed):
                rows.append(
                    QualityRow(
                        at,
                        f.department,
                        f.resource,
                        f.seen,
                        f.invalid,
                        f.samples,
                        f.images,
                        tuple(f.nonnull),
                        tuple(f.nonnull.values()),
                        f.filled,
                        f.weight,
                        f.routed,
                        f.late,
                        f.latency_ms_sum,
                        datetime.fromtimestamp(f.last_change_ms / 1000, UTC),
                        f.refs,
                        f.unmatched,
                    )
                )
        return rows
