"""The router as a Faust app: batches of raw change events routed under the live policy by
app-owned confluent-kafka clients; a batch's offsets are committed only once delivered."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from confluent_kafka import Message
from faust.app.base import BootStrategy

from sharebus.catalog.models import Catalog
from sharebus.catalog.notices import ended_notice, recipients
from sharebus.core import naming
from sharebus.core.audit import AuditLog, security_alert
from sharebus.core.errors import SharebusError
from sharebus.core.gcpause import collections_deferred, freeze_survivors, release_free_memory
from sharebus.core.https import WEB_SERVER, server_context
from sharebus.core.kafka_clients import Role
from sharebus.core.notices import Notice, NoticeWriter
from sharebus.core.pacing import beside_routing
from sharebus.core.settings import Settings
from sharebus.core.signing import SignatureError, verifier
from streams.key_index import KeyIndex
from streams.policy.compiled import Policy, compile_policy
from streams.quality import compile_checks
from streams.router.batch import BatchOutput, BatchRouter, EncoderFor
from streams.router.config import RouterConfig
from streams.router.delivery import DeliveryTracker
from streams.router.follower import TopicFollower
from streams.router.live_catalog import catalog_from, verified_texts
from streams.router.loops import CatalogWatcher, RawLoop
from streams.router.monitor import QuietMonitor
from streams.router.records import RawRecord
from streams.router.topics import prepare_topics, raw_topics, source_topics
from streams.router.withdraw import Destroyed, WithdrawalLoop, destruction_events

log = logging.getLogger("sharebus.router")

BatchDone = Callable[[BatchOutput, float], None]
"""Called once a batch is fully delivered, with its output and the delivery time (epoch s)."""


class RouterService:
    """State shared by the router's loops: the policy in force, the encoders, the producer."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        pseudonym_key: bytes | None,
        encoder_for: Callable[[Policy], EncoderFor],
        on_batch_done: BatchDone | None = None,
        on_read: Callable[[list[RawRecord]], None] | None = None,
        persist: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.on_read = on_read
        self.persist = persist
        self.pseudonym_key = pseudonym_key
        self.make_encoder_for = encoder_for
        self.on_batch_done = on_batch_done
        policy = compile_policy(catalog, pseudonym_key=pseudonym_key)
        prepare_topics(settings, policy)
        self.keys = KeyIndex()  # the referenced resources' keys (consistency), kept across versions
        keys_topic = naming.keys_topic(settings.catalog_topic)
        self.router = BatchRouter(
            policy, compile_checks(catalog, keys=self.keys), encoder_for(policy), keys_topic=keys_topic
        )
        self.source_topics = source_topics(settings, catalog)
        self.config = RouterConfig.from_settings(settings)
        self.verifier = verifier(settings)  # catalog versions must be the admin's
        self.watch = self.config.watch()
        self.tracker: DeliveryTracker | None = None
        self.loops: list[RawLoop | CatalogWatcher | WithdrawalLoop | TopicFollower] = []
        self.withdrawals: WithdrawalLoop | None = None
        self._routing = threading.Lock()  # held while a batch is routed, and deliveries are served
        self.routed = 0
        self.policy_changes = 0
        self._window = _Window()
        self._notices: NoticeWriter | None = None  # made on the first withdrawal
        # Compacted topics kept in memory (topic, group, apply(key, value)) — the key index, and
        # what extensions add: each is loaded before routing starts, then followed.
        self.followed: list[tuple[str, str, Callable[[bytes | None, bytes | None], None]]] = [
            (keys_topic, naming.KEYS_FOLLOWER_GROUP, self.keys.apply)
        ]
        self._starting = threading.Lock()  # held by `start`, which runs off the event loop

    @property
    def policy(self) -> Policy:
        return self.router.policy

    def _destroyed(self, done: Sequence[Destroyed]) -> None:
        """Each withdrawn (subscriber, resource) audited as `data.destroy` with its tombstones, and
        its subscriber and department notified (a failed write stops the worker: the withdrawal is
        redone, audited and notified when it restarts)."""
        if not done:
            return
        AuditLog(self.settings, Role.ROUTER).write(destruction_events(self.settings, done), watch=self.watch)
        catalog = self.policy.catalog
        told: list[Notice] = []
        for d in done:
            notice = ended_notice(
                d.subscriber, d.resource, d.reason, d.demands, d.tombstones, d.catalog_version, d.at
            )
            key = d.demands[0] if d.demands else d.resource
            told.extend((r, key, notice) for r in recipients(catalog, d.subscriber, d.resource))
        writer = self._notices = self._notices or NoticeWriter(self.settings, Role.ROUTER)
        self.watch.call(lambda: writer.send(told))

    def start(self, fatal: Callable[[BaseException], None]) -> None:
        """Start the producer, the followers, the raw-topic loop and the catalog watcher (off the
        event loop: a stop asked meanwhile waits for it)."""
        with self._starting:
            self._start(fatal)

    def _start(self, fatal: Callable[[BaseException], None]) -> None:
        # Deliveries are served in the raw loop (and by `barrier`); a failure raises there and
        # stops the worker before the offsets of the failed batch or any later one are committed.
        config, watch = self.config, self.watch
        self.tracker = DeliveryTracker(config.kafka, watch)
        followers = [TopicFollower(config, watch, *followed, fatal) for followed in self.followed]
        for follower in followers:
            follower.load()  # before routing: no key is looked up, no change judged, on half of it
        self.loops = [
            *followers,
            RawLoop(
                config,
                watch,
                self.source_topics,
                self.route,
                self.barrier,
                fatal,
                self.persist,
                frozenset(self.source_topics) - frozenset(raw_topics(self.policy.catalog)),
                serve=self.serve,
            ),
            CatalogWatcher(config, watch, self.apply_published, fatal),
        ]
        self.withdrawals = WithdrawalLoop(
            config, watch, lambda: self.policy, self.barrier, fatal, destroyed=self._destroyed
        )
        self.loops.append(self.withdrawals)
        # The heap built so far (Faust, the catalog, the metrics store) lives as long as the worker:
        # frozen, full collections no longer walk it; they cost ~25% of the routing CPU otherwise.
        gc.collect()
        gc.freeze()
        freeze_survivors()  # and so is what routing builds on first use
        release_free_memory()  # what parsing the catalog freed goes back to the system
        for loop in self.loops:
            loop.start()

    def apply_published(self, msg: Message) -> None:
        what = f"catalog version at {self.settings.catalog_topic} offset {msg.offset()}"
        # Beside the routing thread: no collection walks the heap, no call holds the GIL long, and
        # the work rests every few ms so routing keeps most of the interpreter.
        with collections_deferred(), beside_routing():
            try:
                texts = verified_texts(msg.value() or b"", msg.headers(), self.verifier, what)
                catalog = catalog_from(texts, what, apart=True)
            except SignatureError as exc:  # not the admin's: refused, audited; the version in force stays
                log.error("catalog version refused (the version in force stays):\n%s", exc)
                detail = {"kind": "catalog_signature", "problem": exc.problem, "actual": exc.actual}
                security_alert(self.settings, Role.ROUTER, "catalog", what, detail)
                return
            except SharebusError as exc:  # a bad version is refused; the one in force stays
                log.error("catalog version refused:\n%s", exc)
                return
            self.apply_catalog(catalog)

    def apply_catalog(self, catalog: Catalog) -> bool:
        """Swap in a new catalog version (live policy); False if it is the one in force."""
        if catalog.version == self.policy.version:
            return False
        started = time.perf_counter()
        policy = compile_policy(catalog, pseudonym_key=self.pseudonym_key, previous=self.policy)
        log.info(
            "policy %s compiled in %.2fs (off the routing thread)",
            catalog.version,
            time.perf_counter() - started,
        )
        self.watch.call(lambda: prepare_topics(self.settings, policy))  # an outage is waited out
        missing = sorted(set(raw_topics(catalog)) - set(self.source_topics))
        if missing:
            log.warning(
                "catalog %s adds source topics %s: restart the worker to read them", catalog.version, missing
            )
        checks = compile_checks(catalog, previous=self.router.checks)
        self.router.swap(policy, checks, self.make_encoder_for(policy))
        if self.withdrawals is not None:
            self.withdrawals.poke()  # a resource it withdraws is tombstoned
        self.policy_changes += 1
        log.info("policy %s in force", policy.version)
        return True

    def barrier(self) -> None:
        """Returns once every batch routed so far is delivered: every later batch routes under the
        policy in force now, and at a later time."""
        with self._routing:
            if self.tracker is not None:
                self.tracker.drain()

    def serve(self) -> bool:
        """Hand over the batches Kafka acknowledged since the last call (counts, then offsets);
        whether batches are still in flight."""
        with self._routing:
            if self.tracker is None:
                return False
            self.tracker.serve()
            return self.tracker.in_flight > 0

    def route(self, records: list[RawRecord], delivered: Callable[[], None]) -> None:
        with self._routing:
            self._route(records, delivered)

    def _route(self, records: list[RawRecord], delivered: Callable[[], None]) -> None:
        started = time.perf_counter()
        if self.on_read is not None:
            self.on_read(records)
        out = self.router.route_batch(records, datetime.now(UTC))
        assert self.tracker is not None

        count, sent = len(records), len(out.messages)

        def done() -> None:
            # Counted before the batch is marked done: a checkpoint that commits its offsets
            # persists its counts too.
            self.routed += count
            if self.on_batch_done is not None:
                self.on_batch_done(out, time.time())
            delivered()

        self.tracker.send(out.messages, done)
        # The producers hold copies: the messages (and the records) are freed now, not when Kafka
        # acknowledges them — batches in flight would otherwise be what each young collection walks.
        out.messages = []
        self._window.add(count, sent, time.perf_counter() - started)

    def stop(self) -> None:
        with self._starting:  # a start under way finishes first: every loop it made is started
            self._stop()

    def _stop(self) -> None:
        for loop in self.loops:
            loop.stop()
        if self.tracker is not None:
            undelivered = self.tracker.close()
            if undelivered:
                log.error(
                    "%d routed records undelivered at stop; their sources stay uncommitted", undelivered
                )
        self.watch.close()


class _Window:
    """Throughput of the last interval, logged every `every` seconds (batches, sizes, time)."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.start = time.monotonic()
        self.batches = self.records = self.messages = 0
        self.busy = 0.0

    def add(self, records: int, messages: int, seconds: float) -> None:
        self.batches += 1
        self.records += records
        self.messages += messages
        self.busy += seconds
        elapsed = time.monotonic() - self.start
        if elapsed >= self.every:
            log.info(
                "routed %d records (%.0f/s) in %d batches (avg %.0f), %d messages out, routing %.0f%%",
                self.records,
                self.records / elapsed,
                self.batches,
                self.records / self.batches,
                self.messages,
                100 * self.busy / elapsed,
            )
            self.start = time.monotonic()
            self.batches = self.records = self.messages = 0
            self.busy = 0.0


def create_app(
    settings: Settings,
    service: RouterService,
    fatal: Callable[[BaseException], None],
    *,
    after_stop: Callable[[], None] | None = None,
) -> faust.App:
    """The Faust app hosting the router: lifecycle, web server (metrics API, dashboard), timers.
    The routing itself runs in the service's loops (see streams/router/loops.py). At shutdown
    routing stops (drained, committed) before `after_stop` closes what it feeds (the metrics)."""
    app = faust.App(
        naming.faust_app_id(settings.router_id),
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_ssl_context=server_context(settings, WEB_SERVER) if settings.web_tls else None,
        store="memory://",
        monitor=QuietMonitor(),
    )
    # Faust hosts the lifecycle, the web server and the timers; it reads and writes nothing. Its
    # aiokafka clients would only hold a group membership the worker does not use, and aiokafka
    # does not re-authenticate (KIP-368): the broker drops the connection every
    # connections.max.reauth.ms, with ERROR lines in a healthy log. So none are started.
    app.boot_strategy = BootStrategy(app, enable_kafka=False)

    @app.task  # type: ignore[untyped-decorator]
    async def _start() -> None:
        # Off the event loop: starting reads the followed topics to their ends and collects the
        # heap (a second or more), and the web server (metrics API, dashboard) answers meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, service.start, fatal)

    def stop_in_order() -> None:
        service.stop()
        if after_stop is not None:
            after_stop()

    # One receiver: a signal's receivers are a set, run in no fixed order.
    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _stop(app_: faust.App, **_: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, stop_in_order)

    return app
