"""What flows through this router: raw records read, deliveries, dead letters and latency, in
time slots (for 1- and 5-minute windows and charts) and as running totals (for Prometheus).

Fed from the router's threads (`add_raw` from the raw loop, `add_batch` from the producer's
delivery thread); each call aggregates its batch first and takes the lock once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sharebus.core import naming
from streams.ops.histogram import LatencyHistogram
from streams.ops.model import iso
from streams.router.batch import BatchOutput
from streams.router.records import RawRecord

LATENCY_SAMPLES_PER_KEY = 20
"""Latency samples kept per (department, resource, subscriber, op) and batch, each weighted so
they stand for all the batch's records of that key."""

Counts = list[int]  # [records, bytes]
CallTotalKey = tuple[str, str, str, str]  # (department, resource, subscriber, outcome)


@dataclass
class Slot:
    start: float
    raw: dict[str, Counts] = field(default_factory=dict)  # raw topic → read
    delivered: dict[str, Counts] = field(default_factory=dict)  # subscriber topic → delivered
    dead: dict[str, Counts] = field(default_factory=dict)  # department → dead-lettered
    withheld: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass
class RouterWindow:
    """Sums over a window of slots, with the seconds they cover."""

    span: float
    raw: dict[str, Counts] = field(default_factory=dict)
    delivered: dict[str, Counts] = field(default_factory=dict)
    dead: dict[str, Counts] = field(default_factory=dict)
    withheld: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def per_second(self, counts: Counts | None, index: int = 0) -> float:
        return (counts[index] if counts else 0) / self.span if self.span > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        raw = _sum(self.raw.values())
        out = _sum(self.delivered.values())
        dead = _sum(self.dead.values())
        p50, p99 = self.latency.quantile(0.5), self.latency.quantile(0.99)
        return {
            "span_s": round(self.span, 1),
            "in_records_per_s": round(self.per_second(raw), 2),
            "in_bytes_per_s": round(self.per_second(raw, 1), 1),
            "delivered_per_s": round(self.per_second(out), 2),
            "delivered_bytes_per_s": round(self.per_second(out, 1), 1),
            "dead_letters_per_s": round(self.per_second(dead), 3),
            "withheld_per_s": round(self.withheld / self.span, 3) if self.span > 0 else 0.0,
            "latency_ms": {
                "records": round(self.latency.count),
                "p50": None if p50 is None else round(p50, 1),
                "p99": None if p99 is None else round(p99, 1),
            },
        }


class RouterMeter:
    """Slots of `slot_seconds` kept for `keep_seconds`, and totals since the worker started."""

    def __init__(
        self,
        *,
        slot_seconds: float = 5.0,
        keep_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.slot_seconds = slot_seconds
        self.clock = clock
        self.started = clock()
        self._slots: deque[Slot] = deque(maxlen=int(keep_seconds / slot_seconds) + 2)
        self._lock = threading.Lock()
        self.raw_totals: dict[str, Counts] = {}
        self.call_totals: dict[CallTotalKey, Counts] = {}
        self.latency_total = LatencyHistogram()

    # --- feeding (router threads) ----------------------------------------------------------------
    def add_raw(self, records: Sequence[RawRecord], at: float | None = None) -> None:
        per_topic: dict[str, Counts] = {}
        for rec in records:
            counts = per_topic.get(rec.topic)
            if counts is None:
                counts = per_topic[rec.topic] = [0, 0]
            counts[0] += 1
            counts[1] += len(rec.value or b"") + len(rec.key or b"")
        with self._lock:
            slot = self._slot(at if at is not None else self.clock())
            for topic, (n, b) in per_topic.items():
                _add(slot.raw, topic, n, b)
                _add(self.raw_totals, topic, n, b)

    def add_batch(self, out: BatchOutput, delivered_at: float) -> None:
        now_ms = delivered_at * 1000.0
        batch = LatencyHistogram()
        rows: list[tuple[str, CallTotalKey, int, int]] = []
        for key, agg in out.calls.items():
            target = ""
            if key.outcome == "delivered":
                target = naming.share_topic(key.subscriber, key.department)
                stamps = agg.source_ts_ms
                if stamps:
                    step = max(len(stamps) // LATENCY_SAMPLES_PER_KEY, 1)
                    kept = stamps[::step][:LATENCY_SAMPLES_PER_KEY]
                    batch.add((now_ms - ts for ts in kept), weight=agg.records / len(kept))
            total_key = (key.department, key.resource, key.subscriber, key.outcome)
            rows.append((target, total_key, agg.records, agg.bytes))
        with self._lock:
            slot = self._slot(delivered_at)
            for target, total_key, records, nbytes in rows:
                outcome = total_key[3]
                if outcome == "delivered":
                    _add(slot.delivered, target, records, nbytes)
                elif outcome == "dead_letter":
                    _add(slot.dead, total_key[0], records, nbytes)
                else:
                    slot.withheld += records
                _add(self.call_totals, total_key, records, nbytes)
            slot.latency.merge(batch)
            self.latency_total.merge(batch)

    def _slot(self, at: float) -> Slot:
        start = at - at % self.slot_seconds
        if self._slots and self._slots[-1].start == start:
            return self._slots[-1]
        for slot in reversed(self._slots):  # a late batch of an earlier slot
            if slot.start == start:
                return slot
            if slot.start < start:
                break
        slot = Slot(start)
        if self._slots and start < self._slots[-1].start:
            return slot  # older than the newest slot and not kept: counted in totals only
        self._slots.append(slot)
        return slot

    # --- reading -----------------------------------------------------------------------------------
    def window(self, seconds: float, now: float | None = None) -> RouterWindow:
        """Sums of the slots overlapping the last `seconds` (the span is what they cover)."""
        now = self.clock() if now is None else now
        since = now - seconds
        span = max(min(seconds, now - self.started), 0.0)
        win = RouterWindow(span)
        with self._lock:
            for slot in self._slots:
                if slot.start + self.slot_seconds <= since:
                    continue
                for topic, (n, b) in slot.raw.items():
                    _add(win.raw, topic, n, b)
                for topic, (n, b) in slot.delivered.items():
                    _add(win.delivered, topic, n, b)
                for dept, (n, b) in slot.dead.items():
                    _add(win.dead, dept, n, b)
                win.withheld += slot.withheld
                win.latency.merge(slot.latency)
        return win

    def series(self, now: float | None = None) -> list[dict[str, Any]]:
        """Per complete slot of the kept history: records/s in and out, latency p50/p99 (ms)."""
        now = self.clock() if now is None else now
        current = now - now % self.slot_seconds
        with self._lock:
            slots = [s for s in self._slots if s.start < current]
        out = []
        for slot in slots:
            p50, p99 = slot.latency.quantile(0.5), slot.latency.quantile(0.99)
            out.append(
                {
                    "at": iso(slot.start + self.slot_seconds),
                    "in_per_s": round(_sum(slot.raw.values())[0] / self.slot_seconds, 2),
                    "out_per_s": round(_sum(slot.delivered.values())[0] / self.slot_seconds, 2),
                    "p50_ms": None if p50 is None else round(p50, 1),
                    "p99_ms": None if p99 is None else round(p99, 1),
                }
            )
        return out

    def totals(self) -> tuple[dict[str, Counts], dict[CallTotalKey, Counts], LatencyHistogram]:
        """Copies of the running totals: raw reads, calls by key, latency."""
        with self._lock:
            latency = LatencyHistogram()
            latency.merge(self.latency_total)
            return (
                {k: list(v) for k, v in self.raw_totals.items()},
                {k: list(v) for k, v in self.call_totals.items()},
                latency,
            )


def _add(table: dict[Any, Counts], key: Any, records: int, nbytes: int) -> None:
    counts = table.get(key)
    if counts is None:
        table[key] = [records, nbytes]
    else:
        counts[0] += records
        counts[1] += nbytes


def _sum(values: Any) -> Counts:
    total = [0, 0]
    for n, b in values:
        total[0] += n
        total[1] += b
    return total
