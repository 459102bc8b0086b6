"""One ops sample of the bus as plain data: end offsets, consumer groups, commits, record times."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

TP = tuple[str, int]
"""(topic, partition)."""

RecordAt = tuple[str, int, int]
"""(topic, partition, offset) of a record whose timestamp was read."""

CommitKey = tuple[str, str, int]
"""(group, topic, partition) of a committed offset."""


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A consumer group as Kafka describes it: state, live members and what they hold."""

    group: str
    state: str  # STABLE | EMPTY | DEAD | PREPARING_REBALANCING | COMPLETING_REBALANCING | UNKNOWN
    members: int
    assigned: frozenset[TP] = frozenset()
    error: str | None = None
    hosts: frozenset[str] = frozenset()  # the members' client addresses


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic, by its `sharebus.dlq.*` headers."""

    topic: str
    partition: int
    offset: int
    at: float
    reason: str
    check: str
    resource: str
    responsible_unit: str

    def to_dict(self) -> dict[str, object]:
        return {
            "at": iso(self.at),
            "offset": self.offset,
            "reason": self.reason,
            "check": self.check,
            "resource": self.resource,
            "responsible_unit": self.responsible_unit,
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one sample read from Kafka; times are epoch seconds (UTC).

    `committed` holds only offsets a group committed (>= 0) on the subscriber topics sampled;
    `last_commit` the newest commit time seen per (group, topic, partition) up to this sample,
    `commits_since` since when commits are observed (None: not observed, e.g. a one-off CLI run);
    `record_times` the timestamps of the records the lag-in-seconds and freshness need."""

    at: float
    ends: Mapping[TP, int]
    starts: Mapping[TP, int] = field(default_factory=dict)
    committed: Mapping[str, Mapping[TP, int]] = field(default_factory=dict)
    groups: Mapping[str, GroupInfo] = field(default_factory=dict)
    last_commit: Mapping[CommitKey, float] = field(default_factory=dict)
    commits_since: float | None = None
    record_times: Mapping[RecordAt, float] = field(default_factory=dict)
    duration: float = 0.0

    def topic_end(self, topic: str) -> int:
        return sum(end for (t, _), end in self.ends.items() if t == topic)


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with millisecond precision and Z (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
