"""Security monitoring of the subscribers' reading, from the ops samples (pure): a subscriber that
reads far more than its usual volume (its whole topic again, say), or whose consumers connect from
an address not seen before, raises an alert — at most one per subscriber and kind per window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.ops.model import TP, Snapshot, iso
from streams.ops.topology import Topology

UNUSUAL_READING = "unusual_reading"
NEW_ADDRESS = "new_address"
BASELINE_WEIGHT = 0.2  # of a new interval in the usual volume (an exponentially weighted mean)


@dataclass(frozen=True)
class Alert:
    """One security alert about a subscriber."""

    at: float
    kind: str  # UNUSUAL_READING | NEW_ADDRESS
    subscriber: str
    detail: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"at": iso(self.at), "kind": self.kind, "subscriber": self.subscriber, **self.detail}


@dataclass
class ReadingWatch:
    """Thresholds (settings): an interval's reading alerts when it exceeds both `min_records` and
    `factor` times the subscriber's usual reading over the interval (its usual rate: a sample taken
    late does not look like more reading; before it is known, `factor` times `min_records`);
    `window` seconds between two
    alerts of one subscriber and kind. Reading is what a subscriber's groups commit: the offsets
    they moved forward, or, for a group new to a partition, from the partition's first offset."""

    min_records: int
    factor: float
    window: float
    usual: dict[str, float] = field(default_factory=dict)
    addresses: dict[str, set[str]] = field(default_factory=dict)
    _last_alert: dict[tuple[str, str], float] = field(default_factory=dict)
    _previous: Snapshot | None = None

    def observe(self, snap: Snapshot, topology: Topology) -> list[Alert]:
        """The alerts `snap` raises, compared with the sample before it."""
        previous, self._previous = self._previous, snap
        alerts = self._addresses(snap, topology)
        if previous is None:
            return alerts
        span = max(snap.at - previous.at, 1e-3)
        for subscriber, records in sorted(_reading(previous, snap, topology).items()):
            usual = self.usual.get(subscriber)  # records per second
            # Before its usual is known (a worker just started), only `factor` times the floor.
            if usual is None:
                limit = self.factor * self.min_records
            else:
                limit = max(self.min_records, self.factor * usual * span)
            if records > limit:
                detail = {
                    "records": records,
                    "seconds": round(span, 1),
                    "usual_records": None if usual is None else round(usual * span, 1),
                    "threshold": round(limit, 1),
                }
                alerts += self._raise(snap.at, UNUSUAL_READING, subscriber, detail)
            else:  # an alerting interval does not become the usual
                rate = records / span
                self.usual[subscriber] = (
                    rate if usual is None else (1 - BASELINE_WEIGHT) * usual + BASELINE_WEIGHT * rate
                )
        return alerts

    def _addresses(self, snap: Snapshot, topology: Topology) -> list[Alert]:
        alerts: list[Alert] = []
        for group, info in sorted(snap.groups.items()):
            subscriber = topology.subscriber_of_group(group)
            if subscriber is None or not info.hosts:
                continue
            known = self.addresses.get(subscriber)
            if known is None:  # the first addresses seen are its usual ones
                self.addresses[subscriber] = set(info.hosts)
                continue
            for host in sorted(info.hosts - known):
                known.add(host)
                detail = {"address": host, "group": group, "known": sorted(known - {host})}
                alerts += self._raise(snap.at, NEW_ADDRESS, subscriber, detail)
        return alerts

    def _raise(self, at: float, kind: str, subscriber: str, detail: Mapping[str, Any]) -> list[Alert]:
        last = self._last_alert.get((kind, subscriber))
        if last is not None and at - last < self.window:
            return []
        self._last_alert[(kind, subscriber)] = at
        return [Alert(at, kind, subscriber, dict(detail))]


def _reading(previous: Snapshot, snap: Snapshot, topology: Topology) -> dict[str, int]:
    """Records each subscriber's groups committed past between the two samples."""
    out: dict[str, int] = {}
    for group, offsets in snap.committed.items():
        subscriber = topology.subscriber_of_group(group)
        if subscriber is None:
            continue
        before: Mapping[TP, int] = previous.committed.get(group, {})
        moved = 0
        for tp, offset in offsets.items():
            start = before.get(tp, snap.starts.get(tp, 0))
            moved += max(0, offset - start)
        out[subscriber] = out.get(subscriber, 0) + moved
    return out
