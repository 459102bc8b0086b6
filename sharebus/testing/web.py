"""An aiohttp application served from a thread of the test process, over HTTP or HTTPS."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


@contextmanager
def served(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve `app` on a free loopback port until the block ends; yields the port."""
    ready, loop = threading.Event(), asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ports: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        loop.run_until_complete(site.start())
        ports.append(runner.addresses[0][1])
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise TimeoutError("the test web server did not start within 10 s")
    try:
        yield ports[0]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
