"""One ops sample from Kafka: end offsets of the bus's topics, the subscribers' consumer groups
(state, members, committed offsets), commits seen since the last sample, the record timestamps
lag-in-seconds and freshness need, and the newest dead letters. Blocking; one thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from sharebus.core.kafka_clients import admin_client
from streams.ops.commits import CommitTracker
from streams.ops.errors import OpsError
from streams.ops.lag import wanted_record_times
from streams.ops.model import TP, DeadLetter, GroupInfo, RecordAt, Snapshot
from streams.ops.records import RecordReader
from streams.ops.topology import Topology

DEAD_LETTERS_KEPT = 5
"""Newest dead letters kept per dead-letter topic partition."""


class KafkaSampler:
    """Samples the bus; keeps what stays valid between samples (topic metadata for
    `metadata_every` seconds, record timestamps by offset, dead letters by end offset)."""

    def __init__(
        self,
        kafka: Mapping[str, object],
        *,
        observe_commits: bool = True,
        timeout: float = 10.0,
        metadata_every: float = 30.0,
        admin: Any = None,
        reader: RecordReader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kafka = kafka
        self.timeout = timeout
        self.metadata_every = metadata_every
        self.clock = clock
        self._own_admin, self._own_reader = admin is None, reader is None
        self.admin = admin if admin is not None else admin_client(kafka)
        self.observe_commits = observe_commits
        self._commits: CommitTracker | None = None
        self._reader: RecordReader | None = reader
        self._metadata: tuple[float, str, dict[str, list[int]]] | None = None
        self._times: dict[RecordAt, float] = {}
        self._dead: dict[TP, tuple[int, list[DeadLetter]]] = {}
        self.last_cpu = 0.0

    def sample(self, topology: Topology) -> Snapshot:
        """One Snapshot; OpsError naming Kafka when it does not answer."""
        started, cpu = time.monotonic(), time.thread_time()
        try:
            snap = self._sample(topology)
        except KafkaException as exc:
            self._renew()
            raise OpsError(
                f"Kafka at {self.kafka['bootstrap.servers']}",
                "did not answer the ops sample",
                expected=f"metadata, offsets and consumer groups within {self.timeout:.0f}s",
                actual=str(exc)[:300],
                fix="check that Kafka runs (`sharebus stack status`) and SHAREBUS_KAFKA_BOOTSTRAP",
            ) from None
        self.last_cpu = time.thread_time() - cpu
        duration = time.monotonic() - started
        if duration > self.timeout:
            self._renew()
        return replace(snap, duration=duration)

    def _renew(self) -> None:
        """Fresh clients for the next sample: after a broker restart, librdkafka's admin client
        was seen answering group-offset requests only at their timeout, sample after sample."""
        if self._own_admin:
            self.admin = admin_client(self.kafka)
        if self._commits is not None:
            self._commits.close()
            self._commits = None
        if self._own_reader and self._reader is not None:
            self._reader.close()
            self._reader = None

    def dead_letters(self) -> dict[TP, list[DeadLetter]]:
        return {tp: letters for tp, (_, letters) in self._dead.items()}

    def close(self) -> None:
        for client in (self._commits, self._reader):
            if client is not None:
                client.close()
        self._commits = self._reader = None

    # --- steps ---------------------------------------------------------------------------------
    def _sample(self, topology: Topology) -> Snapshot:
        at = self.clock()
        topics = self._topics(topology, at)
        partitions = [(t, p) for t, parts in topics.items() for p in parts]
        ends = self._offsets(partitions)
        dlq = [tp for tp in partitions if tp[0] in topology.dlq_topics]
        starts = self._offsets(dlq, earliest=True)
        groups = self._groups(topology)
        shares = topology.share_topics(topics)
        by_sub: dict[str, list[TP]] = {}
        for tp in partitions:
            if tp[0] in shares:
                by_sub.setdefault(shares[tp[0]].subscriber, []).append(tp)
        asked = {g: by_sub.get(topology.subscriber_of_group(g) or "", []) for g in groups}
        committed = self._committed(asked)
        last_commit, since = {}, None
        if self.observe_commits:
            if self._commits is None:
                self._commits = CommitTracker(self.kafka, timeout=self.timeout, clock=self.clock)
            last_commit = dict(self._commits.poll(lambda g: topology.subscriber_of_group(g) is not None))
            since = self._commits.since
        snap = Snapshot(at, ends, starts, committed, groups, last_commit, since)
        wanted = set(wanted_record_times(snap, topology))
        wanted |= {(t, p, end - 1) for (t, p), end in ends.items() if t in topology.raw_topics and end > 0}
        self._times = {k: v for k, v in self._times.items() if k in wanted}
        missing = [w for w in wanted if w not in self._times]
        if missing:
            self._times.update(self.reader.timestamps(missing))
        self._read_dead_letters(ends, starts)
        return Snapshot(at, ends, starts, committed, groups, last_commit, since, dict(self._times))

    @property
    def reader(self) -> RecordReader:
        if self._reader is None:
            self._reader = RecordReader(self.kafka)
        return self._reader

    def _topics(self, topology: Topology, now: float) -> dict[str, list[int]]:
        cached = self._metadata
        if cached is not None and cached[1] == topology.version and now - cached[0] < self.metadata_every:
            return cached[2]
        meta = self.admin.list_topics(timeout=self.timeout)
        wanted = set(topology.wanted(meta.topics))
        topics = {
            name: sorted(t.partitions)
            for name, t in meta.topics.items()
            if name in wanted and t.error is None and t.partitions
        }
        self._metadata = (now, topology.version, topics)
        return topics

    def _offsets(self, partitions: list[TP], *, earliest: bool = False) -> dict[TP, int]:
        offsets, gone = self.reader.offsets(partitions, earliest=earliest, timeout=self.timeout)
        if gone:  # deleted since the metadata was read
            self._metadata = None
        return offsets

    def _groups(self, topology: Topology) -> dict[str, GroupInfo]:
        listing = self.admin.list_consumer_groups(request_timeout=self.timeout).result()
        ids = sorted(g.group_id for g in (listing.valid or []) if topology.subscriber_of_group(g.group_id))
        if not ids:
            return {}
        out: dict[str, GroupInfo] = {}
        for gid, future in self.admin.describe_consumer_groups(ids, request_timeout=self.timeout).items():
            try:
                desc = future.result()
            except KafkaException as exc:
                out[gid] = GroupInfo(gid, "UNKNOWN", 0, frozenset(), str(exc)[:200])
                continue
            held = frozenset(
                (tp.topic, tp.partition)
                for m in desc.members
                if m.assignment is not None
                for tp in m.assignment.topic_partitions
            )
            hosts = frozenset(str(m.host).lstrip("/") for m in desc.members if m.host)
            out[gid] = GroupInfo(gid, desc.state.name, len(desc.members), held, hosts=hosts)
        return out

    def _committed(self, asked: dict[str, list[TP]]) -> dict[str, dict[TP, int]]:
        # One group per request (confluent-kafka's limit): all requests first, then the answers.
        pending = {
            g: self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(g, [TopicPartition(t, p) for t, p in tps])],
                request_timeout=self.timeout,
            )[g]
            for g, tps in asked.items()
            if tps
        }
        out: dict[str, dict[TP, int]] = {}
        for g, future in pending.items():
            result = future.result()
            out[g] = {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}
        return out

    def _read_dead_letters(self, ends: dict[TP, int], starts: dict[TP, int]) -> None:
        ranges = {}
        for tp, start in starts.items():
            end = ends.get(tp, 0)
            seen = self._dead.get(tp)
            if end <= start:
                self._dead[tp] = (end, [])
            elif seen is None or seen[0] != end:
                ranges[tp] = (max(start, end - DEAD_LETTERS_KEPT), end)
        if not ranges:
            return
        letters = self.reader.dead_letters(ranges)
        for tp, (_, end) in ranges.items():
            self._dead[tp] = (end, [d for d in letters if (d.topic, d.partition) == tp])
