"""The router as a Faust app: batches of raw change events routed under the live policy,
delivered by an app-owned producer, acknowledged only once delivered (at-least-once)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import EventT

from sharebus.catalog.models import Catalog
from sharebus.settings import Settings
from streams.policy.compiled import Policy, compile_policy
from streams.quality import compile_checks
from streams.router.batch import BatchOutput, BatchRouter, EncoderFor, RawRecord
from streams.router.delivery import DeliveryError, DeliveryTracker
from streams.router.live_catalog import catalog_from, decode_texts
from streams.router.topics import prepare_topics, raw_topics

log = logging.getLogger("sharebus.router")

BatchDone = Callable[[BatchOutput, float], None]
"""Called once a batch is fully delivered, with its output and the delivery time (epoch s)."""


class RouterService:
    """State shared by the agents: the policy in force, the encoders, the producer."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        pseudonym_key: bytes | None,
        encoder_for: Callable[[Policy], EncoderFor],
        on_batch_done: BatchDone | None = None,
    ) -> None:
        self.settings = settings
        self.pseudonym_key = pseudonym_key
        self.make_encoder_for = encoder_for
        self.on_batch_done = on_batch_done
        policy = compile_policy(catalog, pseudonym_key=pseudonym_key)
        prepare_topics(settings, policy)
        self.router = BatchRouter(policy, compile_checks(catalog), encoder_for(policy))
        self.source_topics = raw_topics(catalog)
        self.tracker: DeliveryTracker | None = None
        self.routed = 0
        self.policy_changes = 0

    @property
    def policy(self) -> Policy:
        return self.router.policy

    def start(self, loop: asyncio.AbstractEventLoop, crash: Callable[[BaseException], Any]) -> None:
        def schedule(fn: Callable[[], None]) -> None:
            loop.call_soon_threadsafe(fn)

        def on_error(err: DeliveryError) -> None:
            log.error("%s", err.render())
            crash(err)

        self.tracker = DeliveryTracker(self.settings.kafka_bootstrap, schedule=schedule, on_error=on_error)

    def apply_catalog(self, catalog: Catalog) -> bool:
        """Swap in a new catalog version (live policy); False if it is the one in force."""
        if catalog.version == self.policy.version:
            return False
        policy = compile_policy(catalog, pseudonym_key=self.pseudonym_key)
        prepare_topics(self.settings, policy)
        missing = sorted(set(raw_topics(catalog)) - set(self.source_topics))
        if missing:
            log.warning(
                "catalog %s adds source topics %s: restart the worker to read them", catalog.version, missing
            )
        router = self.router
        router.encoder_for = self.make_encoder_for(policy)
        router.checks = compile_checks(catalog)
        router.policy = policy  # last: a batch sees one consistent version
        self.policy_changes += 1
        log.info("policy %s in force", policy.version)
        return True

    def route(self, events: Sequence[EventT[Any]]) -> None:
        records = [
            RawRecord(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))
            for m in (e.message for e in events)
        ]
        out = self.router.route_batch(records, datetime.now(UTC))
        assert self.tracker is not None

        def done() -> None:
            for event in events:
                event.ack()
            self.routed += len(events)
            if self.on_batch_done is not None:
                self.on_batch_done(out, time.time())

        self.tracker.send(out.messages, done)

    def stop(self) -> None:
        if self.tracker is not None:
            undelivered = self.tracker.close()
            if undelivered:
                log.error("%d routed records undelivered at stop; their sources stay unacked", undelivered)


def create_app(settings: Settings, service: RouterService) -> faust.App:
    """The Faust app: one agent over the raw topics, one over the live catalog."""
    app = faust.App(
        settings.router_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        stream_buffer_maxsize=32768,
        consumer_max_fetch_size=4 * 1024 * 1024,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        topic_allow_declare=True,
        topic_disable_leader=False,
        store="memory://",
    )
    sources = app.topic(*service.source_topics, key_type=bytes, value_type=bytes)
    catalog_topic = app.topic(settings.catalog_topic, key_type=bytes, value_type=bytes)

    @app.agent(sources, name="route")
    async def route(stream: faust.StreamT) -> None:  # type: ignore[type-arg]
        take = stream.noack_take  # type: ignore[attr-defined]  # faust's stub lacks it
        async for events in take(settings.router_batch_size, within=settings.router_batch_window):
            service.route(events)

    @app.agent(catalog_topic, name="live-catalog")
    async def live_catalog(stream: faust.StreamT) -> None:  # type: ignore[type-arg]
        async for event in stream.events():
            if event.message.key != settings.city.encode() or event.message.value is None:
                continue
            try:
                catalog = catalog_from(decode_texts(event.message.value), f"topic {settings.catalog_topic}")
            except Exception as exc:
                log.error("catalog version at offset %s refused:\n%s", event.message.offset, exc)
                continue
            await asyncio.get_running_loop().run_in_executor(None, service.apply_catalog, catalog)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _stop(app_: faust.App, **_: Any) -> None:
        service.stop()

    return app
