"""Run the router worker: live catalog, policy, encoders, metrics sink, Faust worker; exit non-zero
when it cannot do its job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust
import uvloop

from sharebus.keys import pseudonym_key
from sharebus.settings import Settings
from streams.policy.compiled import Policy
from streams.router.app import BatchDone, RouterService, create_app
from streams.router.batch import EncoderFor
from streams.router.live_catalog import startup_catalog

log = logging.getLogger("sharebus.router")


def run_worker(
    settings: Settings,
    *,
    encoder_for: Callable[[Policy], EncoderFor],
    on_batch_done: BatchDone | None = None,
    extra_routes: Callable[[Any], None] | None = None,
    log_level: str = "info",
) -> None:
    """Start the router and block until it stops; a crash ends the process with exit code 1."""
    catalog = startup_catalog(settings)
    log.info("starting with catalog %s (%s)", catalog.version, settings.city)
    service = RouterService(
        settings,
        catalog,
        pseudonym_key=pseudonym_key(settings),
        encoder_for=encoder_for,
        on_batch_done=on_batch_done,
    )
    crashing: list[asyncio.Future[None]] = []

    def fatal(exc: BaseException) -> None:
        """From any thread: stop the worker; it exits with code 1."""
        loop.call_soon_threadsafe(lambda: crashing.append(asyncio.ensure_future(worker.crash(exc))))

    app = create_app(settings, service, fatal)
    if extra_routes is not None:
        extra_routes(app.web.web_app)  # type: ignore[attr-defined]  # the aiohttp driver's Application
    uvloop.install()  # before the worker creates its event loop
    # -l info: Faust's default `warn` starts a spinner that sets the root logger to DEBUG.
    worker = faust.Worker(app, loglevel=log_level, quiet=True, redirect_stdouts=False)
    loop = worker.loop
    worker.execute_from_commandline()
