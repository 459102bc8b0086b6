"""Wire the worker: Avro encoders from the schema registry, the metrics sink and its query API,
then run the router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from functools import partial

import faust

from schemas.encoder import Encoder, SchemaBook
from schemas.registry_client import RegistryClient
from sharebus.apps.demand_api import DemandApi
from sharebus.apps.feedback import FeedbackPublisher
from sharebus.apps.objections import ObjectionApi
from sharebus.apps.web_guard import WebGuard
from sharebus.core.audit import login_alerts
from sharebus.core.errors import UnreachableError
from sharebus.core.kafka_clients import Role, kafka_config
from sharebus.core.logins import KafkaLogins, RefusalWatch
from sharebus.core.settings import Settings
from streams.metrics.api import add_routes
from streams.metrics.audit_tail import AuditTail
from streams.metrics.errors import MetricsError
from streams.metrics.opening import open_store
from streams.metrics.positions import PositionClients, sample_positions
from streams.metrics.sink import MetricsSink
from streams.metrics.store import MetricsStore
from streams.objections import Objection
from streams.ops.extension import Ops
from streams.policy.compiled import Policy
from streams.router.app import RouterService
from streams.router.batch import BatchOutput, EncoderFor
from streams.router.calls import CallTally, QualityTally
from streams.router.records import RawRecord
from streams.router.withheld_audit import WithheldAudit
from streams.router.worker import Fatal, WorkerExtension, run_worker

log = logging.getLogger("sharebus.router")

CALLS_EVERY = 1.0  # seconds the delivered batches' counts are summed before the sink stores them
POSITIONS_EVERY = 30.0  # seconds between samples of the subscribers' consumer positions
SINK_MAX_ROWS = 50_000  # call rows buffered past which the metrics sink inserts before its 1 s


def avro_encoders(settings: Settings) -> Callable[[Policy], EncoderFor]:
    """For each policy version: its projections' schemas registered up front, then the encoder
    per (subscriber, resource, demand) — the Confluent wire format districts read."""
    # A registry away (its Kafka restarting, say) is waited out like Kafka itself, then fatal.
    client = RegistryClient.for_settings(
        settings, Role.ROUTER, patience=settings.kafka_outage_tolerance, on_wait=log.warning
    )
    shared: dict[tuple[str, int], Encoder] = {}  # a publish reuses every unchanged projection's writer

    def for_policy(policy: Policy) -> EncoderFor:
        book = SchemaBook(client, policy, shared)
        book.prepare()
        return book.encoder_for

    return for_policy


class Metrics:
    """The worker owns the metrics store: every delivered batch becomes call rows, consumer
    positions are sampled, every audit event is counted (a thread tails the audit topic), and
    the store's queries are served over the worker's web port."""

    def __init__(
        self, settings: Settings, objections: Callable[[], Iterable[Objection]] = lambda: ()
    ) -> None:
        self.settings = settings
        self.objections = objections
        self.store: MetricsStore = open_store(settings)
        self.sink: MetricsSink | None = None
        self.audit: AuditTail | None = None
        self.tally = CallTally()  # delivered batches' counts, summed until the next second or checkpoint
        self.quality = QualityTally()  # and their resources' quality figures, alike
        self.positions = PositionClients(kafka_config(settings, Role.ROUTER))
        self.feedback: FeedbackPublisher | None = None

    def attach(self, app: faust.App, service: RouterService, fatal: Fatal) -> None:
        # Call rows come summed over a second (a row per key and minute, not per batch: CallTally),
        # then inserted within the sink's second: one insert a second whatever the rate, and each
        # insert is a part ClickHouse merges.
        self.sink = MetricsSink(self.store, max_rows=SINK_MAX_ROWS, on_error=fatal)
        add_routes(app.web.web_app, self.store)  # type: ignore[attr-defined]  # aiohttp driver
        sink = self.sink
        tail = self.audit = AuditTail.for_settings(
            self.settings, self.store, sink.add_audit, fatal, service.watch
        )

        @app.task  # type: ignore[untyped-decorator]
        async def _count_audit_events() -> None:
            tail.start()  # once the worker runs: `fatal` needs its event loop

        @app.timer(CALLS_EVERY)  # type: ignore[untyped-decorator]
        async def _store_calls() -> None:
            if sink.error is None:  # a failed sink has stopped the worker (on_error)
                self._store_tallies(sink)  # a delivery is in the figures within ~2 s

        feedback = self.feedback = FeedbackPublisher(
            self.settings, self.store, lambda: service.policy.catalog, self.objections
        )

        async def quality_round() -> None:
            # Derived from the stored figures: a round Kafka refuses is taken again the next time.
            if service.watch.suspected:
                return
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, feedback.summarise)
                await loop.run_in_executor(None, feedback.publish)
            except (UnreachableError, MetricsError) as exc:
                log.warning("quality feedback not published this time: %s", exc.problem)

        @app.task  # type: ignore[untyped-decorator]
        async def _first_quality_round() -> None:
            await quality_round()  # the dashboard's panel from the start

        @app.timer(self.settings.quality_feedback_every)  # type: ignore[untyped-decorator]
        async def _publish_feedback() -> None:
            await quality_round()

        @app.timer(POSITIONS_EVERY)  # type: ignore[untyped-decorator]
        async def _sample_positions() -> None:
            # A sample is a figure of the moment: one Kafka cannot give (an outage, a broker just
            # back and still loading) is skipped and logged, never a reason to stop routing.
            if service.watch.suspected:
                return
            subscribers = sorted(service.policy.catalog.subscriber_ids())
            clients = self.positions
            sample = partial(sample_positions, clients.kafka, subscribers, clients=clients)
            try:
                rows = await asyncio.get_running_loop().run_in_executor(None, sample)
            except UnreachableError as exc:
                log.warning("consumer positions not sampled this time: %s", exc.problem)
                return
            sink.add_positions(rows)

    def on_records_read(self, records: list[RawRecord]) -> None:
        pass  # calls are counted once delivered

    def on_batch_done(self, out: BatchOutput, delivered_at: float) -> None:
        if out.calls:
            self.tally.add(out, delivered_at)
        self.quality.add(out, delivered_at)

    def _store_tallies(self, sink: MetricsSink) -> None:
        sink.add(self.tally.drain())
        sink.add_quality(self.quality.drain())

    def persist(self) -> None:
        if self.sink is not None:  # the rows of the batches about to be committed are stored
            self._store_tallies(self.sink)
            self.sink.flush()

    def close(self) -> None:
        if self.audit is not None:
            self.audit.stop()  # before the sink closes: what it read is flushed
        if self.sink is not None:
            self._store_tallies(self.sink)
            self.sink.close()
        self.positions.close()
        if self.feedback is not None:
            self.feedback.close()
        self.store.close()


def start_worker(settings: Settings, *, log_level: str = "info") -> None:
    if (warning := settings.cleartext_warning()) is not None:
        log.warning("%s", warning)
    if not settings.web_tls:
        log.warning(
            "SHAREBUS_WEB_TLS=false: the web server on port %d speaks HTTP, logins and reports cross"
            " the network in clear (keep SHAREBUS_WEB_HOST on loopback)",
            settings.web_port,
        )
    objections = ObjectionApi(settings)
    metrics = Metrics(settings, objections.book.all)
    extensions: list[WorkerExtension] = [
        metrics,
        Ops(settings, quality=lambda: metrics.feedback.panel if metrics.feedback is not None else None),
        WithheldAudit(settings),
        DemandApi(settings),
        objections,
    ]
    if settings.kafka_secure:
        alerts = login_alerts(settings, Role.ROUTER, f"worker web server {settings.router_id}")
        watch = RefusalWatch(settings.security_login_refusals, settings.security_window, alerts)
        extensions.insert(0, WebGuard(settings, KafkaLogins(settings, watch=watch)))
    else:
        log.warning(
            "SHAREBUS_KAFKA_SECURITY_PROTOCOL=%s: the bus has no logins, so the web server on port %d is"
            " open to whoever reaches it (keep SHAREBUS_WEB_HOST on loopback, or turn SASL on)",
            settings.kafka_security_protocol,
            settings.web_port,
        )
    run_worker(settings, encoder_for=avro_encoders(settings), extensions=extensions, log_level=log_level)
