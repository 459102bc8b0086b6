"""The router's hot loop and its catalog watcher: app-owned confluent-kafka consumers in threads.

Faust's per-message consumer path costs ~190 µs of CPU per record on this machine (see
PERFORMANCE-NOTES and the README); the raw topics are therefore read in batches by a
confluent-kafka consumer that the Faust app owns, as it owns its producer. The next batch is read
while earlier ones are being delivered; offsets are committed only up to the last batch before
which every routed record Kafka has acknowledged (at-least-once); on a rebalance, in-flight
batches are delivered and committed before partitions are given up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from sharebus.core import naming
from sharebus.core.outage import KafkaWatch, transient
from streams.router.checkpoints import Checkpoints, Offsets, merged
from streams.router.config import RouterConfig
from streams.router.records import RawRecord

log = logging.getLogger("sharebus.router")

Fatal = Callable[[BaseException], None]

# A commit the group coordinator refuses because the group moved on without this member: that is a
# rebalance, not a fault. The partitions' new owner reads from the last committed offsets, so the
# uncommitted batches are delivered again, as upserts of the same keys (at-least-once).
GENERATION_MOVED = frozenset(
    {
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.FENCED_INSTANCE_ID,
    }
)


def generation_moved(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.code() in GENERATION_MOVED


@dataclass
class _Batch:
    offsets: dict[tuple[str, int], int]  # next offset to read, per (topic, partition)
    done: bool = False


@dataclass
class OffsetLedger:
    """Batches in flight, in order; the committable offsets are those of the done prefix."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    batches: deque[_Batch] = field(default_factory=deque)

    def open(self, offsets: dict[tuple[str, int], int]) -> _Batch:
        batch = _Batch(offsets)
        with self.lock:
            self.batches.append(batch)
        return batch

    def close(self, batch: _Batch) -> None:
        with self.lock:
            batch.done = True

    def committable(self) -> dict[tuple[str, int], int]:
        """Offsets of the longest prefix of done batches (removed from the ledger)."""
        done: list[Offsets] = []
        with self.lock:
            while self.batches and self.batches[0].done:
                done.append(self.batches.popleft().offsets)
        return merged(*done)

    def in_flight(self) -> int:
        with self.lock:
            return len(self.batches)


RouteBatch = Callable[[list[RawRecord], Callable[[], None]], None]
"""Route records; the callback runs once all their outputs are delivered (from `serve` or `drain`)."""

SERVE_EVERY = 0.01
"""Seconds the loop waits for records while batches are in flight before it serves their deliveries."""


class RawLoop:
    """Consume the raw topics in batches, route, commit what is delivered."""

    def __init__(
        self,
        config: RouterConfig,
        watch: KafkaWatch,
        topics: list[str],
        route: RouteBatch,
        drain: Callable[[], None],
        fatal: Fatal,
        persist: Callable[[], None] = lambda: None,
        retiring: frozenset[str] = frozenset(),
        *,
        serve: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.watch = watch
        self.topics = topics
        # Per-table topics of the old capture layout: `sharebus topics migrate` deletes them
        # under the running router once it has routed them to their end.
        self.retiring = retiring
        self.route = route
        self.drain = drain  # returns once every routed batch is delivered (raises if it cannot be)
        self.serve = serve  # hands over the batches delivered since; whether any are still in flight
        self.fatal = fatal
        self.persist = persist
        self._checkpointed = time.monotonic()
        self.checkpoints = Checkpoints(lambda: self.persist())
        self.ledger = OffsetLedger()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sharebus-raw", daemon=True)
        self.consumer = Consumer(
            config.kafka.consumer(
                {
                    "group.id": config.router_id,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": 10000,
                    "heartbeat.interval.ms": 2000,
                    "max.poll.interval.ms": 300000,
                    "fetch.max.bytes": 8 * 1024 * 1024,
                    "queued.max.messages.kbytes": 65536,
                    "topic.metadata.refresh.interval.ms": 10000,
                    **watch.client_config(),
                }
            )
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.consumer.subscribe(self.topics, on_revoke=self._on_revoke)
            size, window = self.config.batch_size, self.config.batch_window
            waiting = False  # batches routed and not yet delivered
            while not self._stop.is_set():
                msgs = self.consumer.consume(size, min(window, SERVE_EVERY) if waiting else window)
                if msgs:
                    self._route(msgs)
                waiting = self.serve()
                self._commit()
                self.watch.check()  # an outage is waited out, up to the tolerance
            self._drain()
        except BaseException as exc:
            log.error("raw topic loop failed: %s", exc)
            self.fatal(exc)
        finally:
            self._close()

    def _close(self) -> None:
        """Leave the group; a refusal to commit on the way out is the group having moved on."""
        self.checkpoints.close()  # a checkpoint in flight is never committed: its batches come again
        try:
            self.consumer.close()
        except KafkaException as exc:
            if not (generation_moved(exc) or transient(exc)):
                raise
            log.warning("raw consumer left a group that had moved on (%s): nothing is lost", exc.args[0])

    def _route(self, msgs: list) -> None:  # type: ignore[type-arg]
        records: list[RawRecord] = []
        offsets: dict[tuple[str, int], int] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART and self.retiring:
                    log.info("a per-table topic of the old layout is gone (migrated): %s", err.str())
                elif err.code() != KafkaError._PARTITION_EOF:
                    self.watch.failed(KafkaException(err))  # raised unless Kafka is away for a while
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            records.append(RawRecord(topic, partition, offset, m.key(), m.value(), m.timestamp()[1]))
            offsets[(topic, partition)] = offset + 1
        if not records:
            return
        batch = self.ledger.open(offsets)
        self.route(records, lambda: self.ledger.close(batch))

    def _commit(self) -> None:
        """Every `commit_every` seconds: persist what the delivered batches handed over (off this
        thread), then, once that is done, commit their offsets — a crash never loses what was
        counted of records whose offsets are committed; it re-delivers at most two intervals."""
        ready = self.checkpoints.ready()
        if ready:
            self._send_commit(ready)
        if self.checkpoints.busy or time.monotonic() - self._checkpointed < self.config.commit_every:
            return
        self._checkpointed = time.monotonic()
        offsets = self.ledger.committable()
        if offsets:
            self.checkpoints.begin(offsets)

    def _send_commit(self, offsets: Offsets) -> None:
        try:
            self.consumer.commit(offsets=_partitions(offsets), asynchronous=True)
        except KafkaException as exc:  # the next commit carries these offsets too
            if not generation_moved(exc):
                self.watch.failed(exc)

    def _drain(self) -> None:
        """Deliver everything routed and commit it (stop and rebalance); what cannot be delivered
        stays uncommitted, and the failure is raised once what was delivered is committed."""
        failure: Exception | None = None
        try:
            self.drain()
        except Exception as exc:  # raised below, after the commit
            failure = exc
        offsets = _partitions(self._checkpoint())
        if offsets:
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                # The group moved on, or its coordinator is away (a broker restart): whoever owns
                # the partitions next reads them from the last commit (at-least-once).
                if not (generation_moved(exc) or transient(exc)):
                    raise
                log.warning(
                    "commit of %d partitions refused (%s): their records since the last commit are"
                    " delivered again by their next owner",
                    len(offsets),
                    exc.args[0],
                )
        if failure is not None:
            log.error("routed records undelivered; their source offsets stay uncommitted: %s", failure)
            raise failure

    def _checkpoint(self) -> Offsets:
        """Now, on this thread: the offsets of the delivered prefix of batches, once what they
        counted is persisted (the checkpoint in flight first)."""
        done = self.checkpoints.wait()
        offsets = self.ledger.committable()
        if offsets:
            self.persist()
        return merged(done, offsets)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drain()


def _partitions(offsets: Offsets) -> list[TopicPartition]:
    return [TopicPartition(t, p, o) for (t, p), o in offsets.items()]


class CatalogWatcher:
    """Every worker reads the whole catalog topic (no group): each new version of its city's
    catalog is handed to `apply` (which validates, compiles and swaps it in)."""

    def __init__(
        self, config: RouterConfig, watch: KafkaWatch, apply: Callable[[Message], None], fatal: Fatal
    ) -> None:
        self.config = config
        self.watch = watch
        self.apply = apply
        self.fatal = fatal
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=naming.CATALOG_FOLLOWER_GROUP, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        consumer = Consumer(
            self.config.kafka.consumer(
                {
                    "group.id": naming.CATALOG_FOLLOWER_GROUP,
                    "enable.auto.commit": False,
                    **self.watch.client_config(),
                }
            )
        )
        city = self.config.city.encode()
        tp = TopicPartition(self.config.catalog_topic, 0, 0)
        try:
            # Versions already in the topic are history: only the newest may apply (never an
            # older policy, not even for a moment); from there on every new version applies.
            catch_up = (
                self.watch.call(lambda: consumer.get_watermark_offsets(tp, timeout=10) or (0, 0))[1] or 0
            )
            pending: Message | None = None
            consumer.assign([tp])
            while not self._stop.is_set():
                self.watch.check()
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        self.watch.failed(KafkaException(err))
                    continue
                offset = msg.offset() or 0
                if msg.key() == city and msg.value() is not None:
                    pending = msg
                if pending is not None and offset + 1 >= catch_up:
                    self.apply(pending)
                    pending = None
        except BaseException as exc:
            log.error("catalog watcher failed: %s", exc)
            self.fatal(exc)
        finally:
            consumer.close()
