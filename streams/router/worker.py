"""Run the router worker: live catalog, policy, encoders, extensions (metrics), Faust worker; exit
non-zero when it cannot do its job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import faust
import uvloop

from sharebus.core.keys import pseudonym_key
from sharebus.core.settings import Settings
from streams.policy.compiled import Policy
from streams.router.app import RouterService, create_app
from streams.router.batch import BatchOutput, EncoderFor
from streams.router.live_catalog import startup_catalog
from streams.router.records import RawRecord

log = logging.getLogger("sharebus.router")

Fatal = Callable[[BaseException], None]


class WorkerExtension(Protocol):
    """Something the worker hosts beside routing (the metrics sink and its API, the dashboard)."""

    def attach(self, app: faust.App, service: RouterService, fatal: Fatal) -> None:
        """Before the worker starts: add web routes and timers; `fatal` stops the worker."""

    def on_records_read(self, records: list[RawRecord]) -> None:
        """From the raw-topic loop, for each batch read, before it is routed; must not block."""

    def on_batch_done(self, out: BatchOutput, delivered_at: float) -> None:
        """From the producer's delivery thread, once a batch is fully delivered; must not block."""

    def persist(self) -> None:
        """Before the raw-topic loop commits (from its checkpoint thread, or from the loop itself
        when it drains): make durable what delivered batches handed over (audit events, metric
        rows); may block; raise if that cannot be done (nothing is committed)."""

    def close(self) -> None:
        """At shutdown, after routing stopped."""


class WebOnly:
    """A base for extensions that only serve web routes: every hook but `attach` does nothing."""

    def on_records_read(self, records: list[RawRecord]) -> None:
        pass

    def on_batch_done(self, out: BatchOutput, delivered_at: float) -> None:
        pass

    def persist(self) -> None:
        pass

    def close(self) -> None:
        pass


def run_worker(
    settings: Settings,
    *,
    encoder_for: Callable[[Policy], EncoderFor],
    extensions: Sequence[WorkerExtension] = (),
    log_level: str = "info",
) -> None:
    """Start the router and block until it stops; a crash ends the process with exit code 1."""
    catalog = startup_catalog(settings)
    log.info("starting with catalog %s (%s)", catalog.version, settings.city)

    def batch_done(out: BatchOutput, delivered_at: float) -> None:
        for ext in extensions:
            ext.on_batch_done(out, delivered_at)

    def records_read(records: list[RawRecord]) -> None:
        for ext in extensions:
            ext.on_records_read(records)

    def persist() -> None:
        for ext in extensions:
            ext.persist()

    service = RouterService(
        settings,
        catalog,
        pseudonym_key=pseudonym_key(settings),
        encoder_for=encoder_for,
        on_batch_done=batch_done,
        on_read=records_read,
        persist=persist,
    )
    crashing: list[asyncio.Future[None]] = []

    def fatal(exc: BaseException) -> None:
        """From any thread: stop the worker; it exits with code 1."""
        loop.call_soon_threadsafe(lambda: crashing.append(asyncio.ensure_future(worker.crash(exc))))

    def close_extensions() -> None:  # after routing stopped: nothing feeds them any more
        for ext in extensions:
            ext.close()

    app = create_app(settings, service, fatal, after_stop=close_extensions)
    for ext in extensions:
        ext.attach(app, service, fatal)

    uvloop.install()  # before the worker creates its event loop
    # -l info: Faust's default `warn` starts a spinner that sets the root logger to DEBUG.
    worker = faust.Worker(app, loglevel=log_level, quiet=True, redirect_stdouts=False)
    loop = worker.loop
    worker.execute_from_commandline()
