"""The `Ops` worker extension: samples the bus on a timer (off the event loop), meters what the
router reads and delivers, and serves `/api/ops/status`, `/metrics` and `/dashboard`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from sharebus.catalog.demand_view import demand_summary
from sharebus.core.audit import security_alert
from sharebus.core.kafka_clients import Role, kafka_config
from sharebus.core.settings import Settings
from streams.ops.api import add_routes
from streams.ops.connector_states import ConnectorSampler
from streams.ops.denials import DenialWatch
from streams.ops.meter import RouterMeter
from streams.ops.monitor import DEFAULT_INTERVAL, DEFAULT_MIN_SAMPLES, DEFAULT_WINDOW, OpsMonitor
from streams.ops.sampler import KafkaSampler
from streams.ops.topology import Topology, topology_of
from streams.ops.watch import Alert, ReadingWatch
from streams.router.app import RouterService
from streams.router.batch import BatchOutput
from streams.router.records import RawRecord
from streams.router.worker import Fatal

log = logging.getLogger("sharebus.ops")

CONNECTORS_EVERY = 30.0
"""Seconds between connector samples (REST calls and a database login per connector)."""


class Ops:
    """A WorkerExtension. Sampling failures are reported in the figures, never fatal: watching
    the bus must not stop it."""

    def __init__(
        self,
        settings: Settings,
        *,
        interval: float = DEFAULT_INTERVAL,
        window: int = DEFAULT_WINDOW,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        connectors_every: float = CONNECTORS_EVERY,
        slot_seconds: float = 5.0,
        quality: Callable[[], dict[str, Any] | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.quality = quality  # the quality panel (the last 30-day scorecard summary), or None yet
        self.interval = interval
        self.window = window
        self.min_samples = min_samples
        self.connectors_every = connectors_every
        self.meter = RouterMeter(slot_seconds=slot_seconds)
        # One thread each: the Kafka clients stay on their thread, and a slow database login of
        # the connector sample never delays the lag sample.
        self._kafka = ThreadPoolExecutor(1, thread_name_prefix="sharebus-ops-kafka")
        self._connect = ThreadPoolExecutor(1, thread_name_prefix="sharebus-ops-connect")
        self.monitor: OpsMonitor | None = None
        self._closed = False

    def attach(self, app: faust.App, service: RouterService, fatal: Fatal) -> None:
        monitor = self.monitor = OpsMonitor(
            KafkaSampler(kafka_config(self.settings, Role.ROUTER)),
            _topology_of(service),
            interval=self.interval,
            window=self.window,
            min_samples=self.min_samples,
            meter=self.meter,
            connectors=ConnectorSampler(self.settings),
            watch=ReadingWatch(
                self.settings.security_read_records,
                self.settings.security_read_factor,
                self.settings.security_window,
            ),
            denials=_denial_watch(self.settings),
            on_alert=self._alert,
            demands=lambda: demand_summary(service.policy.catalog.demands, datetime.now(UTC)),
            quality=self.quality,
        )
        add_routes(app.web.web_app, monitor)  # type: ignore[attr-defined]  # aiohttp driver

        async def run(executor: ThreadPoolExecutor, job: Callable[[], object]) -> None:
            if not self._closed:  # a timer may still fire while the worker shuts down
                await asyncio.get_running_loop().run_in_executor(executor, job)

        @app.task  # type: ignore[untyped-decorator]
        async def _first_samples() -> None:
            kafka, connect = run(self._kafka, monitor.sample), run(self._connect, monitor.sample_connectors)
            await asyncio.gather(kafka, connect)

        @app.timer(self.interval)  # type: ignore[untyped-decorator]
        async def _sample_kafka() -> None:
            await run(self._kafka, monitor.sample)

        @app.timer(self.connectors_every)  # type: ignore[untyped-decorator]
        async def _sample_connectors() -> None:
            await run(self._connect, monitor.sample_connectors)

    def _alert(self, alert: Alert) -> None:
        """A warning in the worker's log and a security.alert audit record."""
        log.warning(
            "security alert: %s of subscriber %s: %s", alert.kind, alert.subscriber, dict(alert.detail)
        )
        security_alert(
            self.settings, Role.ROUTER, alert.subscriber, "kafka", {"kind": alert.kind, **alert.detail}
        )

    def on_records_read(self, records: list[RawRecord]) -> None:
        self.meter.add_raw(records)

    def on_batch_done(self, out: BatchOutput, delivered_at: float) -> None:
        self.meter.add_batch(out, delivered_at)

    def persist(self) -> None:
        pass  # samples are figures of the moment: nothing to keep

    def close(self) -> None:
        self._closed = True
        self._connect.shutdown(wait=True, cancel_futures=True)
        self._kafka.shutdown(wait=True, cancel_futures=True)
        if self.monitor is not None:
            self.monitor.close()


def _topology_of(service: RouterService) -> Callable[[], Topology]:
    """The topology of the policy in force, rebuilt only when the catalog version changes."""
    cached: list[Topology] = []

    def current() -> Topology:
        catalog = service.policy.catalog
        if not cached or cached[0].version != catalog.version:
            cached[:] = [topology_of(catalog)]
        return cached[0]

    return current


def _denial_watch(settings: Settings) -> DenialWatch | None:
    """The broker's denials, from SHAREBUS_KAFKA_AUTHORIZER_LOG (default: the local stack's broker
    logs); None when set empty."""
    if settings.kafka_authorizer_log is None:
        patterns = [str(settings.runtime_dir.resolve() / "logs" / "kafka*.log")]
    else:
        patterns = [p.strip() for p in settings.kafka_authorizer_log.split(",") if p.strip()]
    if not patterns:
        return None
    return DenialWatch(tuple(Path(p) for p in patterns), settings.security_denials, settings.security_window)
