"""Consumer lag per subscriber, consumer group and topic, in records and seconds, with its status:
pure functions over a window of samples (oldest first).

A subscriber's consumer groups are those named `<subscriber>.<anything>`; a group reads a topic
when it committed an offset on it or a live member holds one of its partitions (so a group that
reads one topic is not blamed for another). Lag of a partition = end − committed (the whole
partition when the group never committed); seconds behind = now − timestamp of the first record
the group has not consumed. A subscriber's lag sums, over its topics, the lag of the slowest group
reading each; its status is the worst of its groups' (NONE when no group reads any topic).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.ops.model import TP, GroupInfo, Snapshot
from streams.ops.status import Evidence, Point, Status, Verdict, evaluate, worst
from streams.ops.topology import ShareTopic, Topology


@dataclass(frozen=True, slots=True)
class PartitionLag:
    partition: int
    committed: int
    end: int
    lag: int
    seconds: float | None
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class TopicLag:
    """One group's lag on one subscriber topic."""

    topic: ShareTopic
    partitions: tuple[PartitionLag, ...]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def seconds(self) -> float | None:
        return _max_or_none(p.seconds for p in self.partitions)

    @property
    def status(self) -> Status:
        return worst(p.verdict.status for p in self.partitions)

    def to_dict(self) -> dict[str, Any]:
        worst_part = max(self.partitions, key=lambda p: p.verdict.status.severity)
        return {
            "topic": self.topic.topic,
            "department": self.topic.department,
            "status": self.status.value,
            "reason": worst_part.verdict.reason,
            "lag_records": self.lag,
            "lag_seconds": _round(self.seconds),
            "committed": sum(max(p.committed, 0) for p in self.partitions),
            "end": sum(p.end for p in self.partitions),
            "partitions": [
                {
                    "partition": p.partition,
                    "committed": p.committed,
                    "end": p.end,
                    "lag": p.lag,
                    "lag_seconds": _round(p.seconds),
                    "status": p.verdict.status.value,
                    "reason": p.verdict.reason,
                }
                for p in self.partitions
            ],
        }


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    info: GroupInfo | None
    topics: tuple[TopicLag, ...]

    @property
    def status(self) -> Status:
        if self.info is not None and self.info.error:
            return Status.ERROR
        return worst(t.status for t in self.topics)

    @property
    def lag(self) -> int:
        return sum(t.lag for t in self.topics)

    def to_dict(self) -> dict[str, Any]:
        info = self.info
        return {
            "group": self.group,
            "state": info.state if info else "UNKNOWN",
            "members": info.members if info else 0,
            "error": info.error if info else None,
            "status": self.status.value,
            "lag_records": self.lag,
            "lag_seconds": _round(_max_or_none(t.seconds for t in self.topics)),
            "topics": [t.to_dict() for t in self.topics],
        }


@dataclass(frozen=True)
class SubscriberLag:
    """A subscriber's groups and topics; `unconsumed` are its topics no group reads."""

    subscriber: str
    groups: tuple[GroupLag, ...]
    topics: tuple[ShareTopic, ...]
    ends: dict[str, int] = field(default_factory=dict)  # topic → end offsets summed

    @property
    def status(self) -> Status:
        return worst(g.status for g in self.groups)

    def topic_lag(self) -> dict[str, int]:
        """Per topic read by some group: the lag of the slowest group reading it."""
        out: dict[str, int] = {}
        for g in self.groups:
            for t in g.topics:
                out[t.topic.topic] = max(out.get(t.topic.topic, 0), t.lag)
        return out

    @property
    def lag(self) -> int:
        return sum(self.topic_lag().values())

    @property
    def seconds(self) -> float | None:
        return _max_or_none(t.seconds for g in self.groups for t in g.topics)

    @property
    def unconsumed(self) -> list[ShareTopic]:
        read = self.topic_lag()
        return [t for t in self.topics if t.topic not in read]

    def by_department(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        read = self.topic_lag()
        for t in self.topics:
            if t.topic in read:
                out[t.department] += read[t.topic]
        return dict(sorted(out.items()))

    def worst_reason(self) -> str:
        candidates = [(t.status, t) for g in self.groups for t in g.topics]
        if not candidates:
            return "no consumer group reads its topics" if self.topics else "no topics yet"
        _, topic = max(candidates, key=lambda c: (c[0].severity, c[1].lag))
        part = max(topic.partitions, key=lambda p: (p.verdict.status.severity, p.lag))
        return f"{topic.topic.topic}: {part.verdict.reason}"


def subscriber_lags(
    window: Sequence[Snapshot], topology: Topology, *, min_samples: int
) -> list[SubscriberLag]:
    """One entry per subscriber of `topology` (in its order), judged over `window`."""
    if not window:
        return [SubscriberLag(s.id, (), ()) for s in topology.subscribers]
    latest = window[-1]
    shares = topology.share_topics({t for t, _ in latest.ends})
    partitions: dict[str, list[int]] = defaultdict(list)
    for topic, part in latest.ends:
        if topic in shares:
            partitions[topic].append(part)
    by_sub: dict[str, list[ShareTopic]] = defaultdict(list)
    for topic in sorted(shares):
        by_sub[shares[topic].subscriber].append(shares[topic])
    groups_of: dict[str, set[str]] = defaultdict(set)
    for group in {*latest.groups, *latest.committed}:
        sid = topology.subscriber_of_group(group)
        if sid is not None:
            groups_of[sid].add(group)
    out = []
    for sub in topology.subscribers:
        topics = by_sub.get(sub.id, [])
        group_lags = []
        for group in sorted(groups_of.get(sub.id, ())):
            read = [t for t in topics if _reads(latest, group, t.topic, partitions[t.topic])]
            if not read:
                continue
            topic_lags = tuple(
                TopicLag(
                    t,
                    tuple(
                        _partition(window, group, t.topic, p, min_samples)
                        for p in sorted(partitions[t.topic])
                    ),
                )
                for t in read
            )
            group_lags.append(GroupLag(group, latest.groups.get(group), topic_lags))
        ends = {t.topic: sum(latest.ends[(t.topic, p)] for p in partitions[t.topic]) for t in topics}
        out.append(SubscriberLag(sub.id, tuple(group_lags), tuple(topics), ends))
    return out


def _reads(latest: Snapshot, group: str, topic: str, parts: list[int]) -> bool:
    committed = latest.committed.get(group, {})
    info = latest.groups.get(group)
    assigned = info.assigned if info is not None else frozenset()
    return any((topic, p) in committed or (topic, p) in assigned for p in parts)


def _partition(
    window: Sequence[Snapshot], group: str, topic: str, part: int, min_samples: int
) -> PartitionLag:
    tp: TP = (topic, part)
    points = [Point(s.at, s.committed.get(group, {}).get(tp, -1), s.ends[tp]) for s in window if tp in s.ends]
    latest = window[-1]
    info = latest.groups.get(group)
    evidence = Evidence(
        last_commit_at=latest.last_commit.get((group, topic, part)),
        commits_observed_since=latest.commits_since,
        assigned=info is not None and tp in info.assigned,
    )
    verdict = evaluate(points, evidence, min_samples=min_samples)
    last = points[-1]
    return PartitionLag(part, last.committed, last.end, last.lag, seconds_behind(latest, tp, last), verdict)


def seconds_behind(latest: Snapshot, tp: TP, point: Point) -> float | None:
    """now − timestamp of the first record not consumed (0 without lag; None when unread)."""
    if point.lag == 0:
        return 0.0
    stamp = latest.record_times.get((tp[0], tp[1], max(point.committed, 0)))
    return None if stamp is None else max(latest.at - stamp, 0.0)


def wanted_record_times(latest: Snapshot, topology: Topology) -> list[tuple[str, int, int]]:
    """The (topic, partition, offset) whose timestamps give the lag in seconds: the first
    unconsumed record of each partition a subscriber's group reads and lags on."""
    shares = topology.share_topics({t for t, _ in latest.ends})
    wanted: set[tuple[str, int, int]] = set()
    for group in {*latest.groups, *latest.committed}:
        if topology.subscriber_of_group(group) is None:
            continue
        committed = latest.committed.get(group, {})
        info = latest.groups.get(group)
        held = info.assigned if info is not None else frozenset()
        for tp, end in latest.ends.items():
            if tp[0] not in shares or shares[tp[0]].subscriber != topology.subscriber_of_group(group):
                continue
            if tp in committed or tp in held:
                offset = committed.get(tp, 0)
                if offset < end:
                    wanted.add((tp[0], tp[1], offset))
    return sorted(wanted)


def _max_or_none(values: Any) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
