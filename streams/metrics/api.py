"""The metrics query API over HTTP: routes for the process that owns the store, and the client
the CLI uses — ask that process first, open the store directly when nobody owns it.

chDB allows one process per data path, so while a worker runs, the worker alone can read its
embedded store; everything else (CLI, dashboard) asks it `GET /api/metrics/<query>?…`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import requests

from sharebus.core.errors import SharebusError
from sharebus.core.https import WEB_PLAIN_FIX, untrusted, web_session, web_url
from sharebus.core.kafka_clients import Role
from sharebus.core.logins import refused_login
from sharebus.core.settings import Settings
from streams.metrics.errors import MetricsError, QueryArgumentError, StoreBusyError
from streams.metrics.opening import open_store
from streams.metrics.queries import QUERIES, plan
from streams.metrics.store import MetricsStore, parse_url

if TYPE_CHECKING:
    from aiohttp import web

PREFIX = "/api/metrics"


# --- server side -----------------------------------------------------------------------------
def add_routes(app: web.Application, store: MetricsStore) -> None:
    """Register `GET /api/metrics` (the query list) and `GET /api/metrics/<query>?arg=value…`
    on `app` (before it starts: aiohttp freezes its router). Queries run in the loop's default
    executor, so a slow query never stalls the event loop (and the router agents on it)."""
    from aiohttp import web

    def respond(data: Any, status: int = 200) -> web.Response:
        return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")

    async def index(request: web.Request) -> web.Response:
        return respond({"queries": list(QUERIES), "store": store.description})

    async def query(request: web.Request) -> web.Response:
        name = request.match_info["query"]
        try:
            prepared = plan(name, dict(request.query), database=store.database, now=datetime.now(UTC))
        except QueryArgumentError as exc:
            return respond(exc.to_dict(), status=404 if name not in QUERIES else 400)
        try:
            result = await asyncio.get_running_loop().run_in_executor(None, prepared.run, store)
        except SharebusError as exc:
            return respond(exc.to_dict(), status=500)
        return respond(result)

    app.router.add_get(PREFIX, index)
    app.router.add_get(PREFIX + "/{query}", query)


# --- client side -----------------------------------------------------------------------------
def api_base(settings: Settings) -> str:
    """The URL of the worker's metrics API (https unless SHAREBUS_WEB_TLS=false)."""
    return web_url(settings, PREFIX)


CONNECT_TIMEOUT = 5.0
"""Seconds to reach the worker's metrics API (and finish the TLS handshake) before giving up."""


def fetch_report(
    settings: Settings, name: str, args: Mapping[str, str], *, timeout: float = 30.0
) -> dict[str, Any]:
    """The report of query `name`: from a ClickHouse server directly; for embedded chDB, from the
    process that owns the store (its web API) or, when nothing answers there, from the store
    opened here. A store owned by a process without a reachable API is a StoreBusyError naming it."""
    args = {k: v for k, v in args.items() if v not in (None, "")}
    if not parse_url(settings.metrics_url).embedded:
        return run_local(settings, name, args)
    base = api_base(settings)
    try:
        with web_session(settings, Role.CLIENT) as session:
            # CONNECT_TIMEOUT covers the TLS handshake too: a busy worker on a busy host may take a
            # second to accept one (its answer then gets `timeout`).
            response = session.get(f"{base}/{name}", params=args, timeout=(CONNECT_TIMEOUT, timeout))
    except requests.exceptions.SSLError as exc:
        raise untrusted(base, settings, exc, WEB_PLAIN_FIX) from None
    except requests.ConnectionError:
        return run_local(settings, name, args, asked=base)
    except requests.Timeout as exc:
        raise MetricsError(
            f"metrics API at {base}",
            f"did not answer (connecting: {CONNECT_TIMEOUT:.0f} s; answering: {timeout:.0f} s)",
            actual=str(exc)[:300],
            fix="the worker is overloaded or stuck; see its log",
        ) from None
    refused_login(response, base)
    return _decode(response, base)


def run_local(
    settings: Settings, name: str, args: Mapping[str, str], *, asked: str | None = None
) -> dict[str, Any]:
    """Open the store in this process, run one query, close it."""
    now = datetime.now(UTC)
    try:
        store = open_store(settings)
    except StoreBusyError as exc:
        if asked is None:
            raise
        raise StoreBusyError(
            exc.subject,
            exc.problem,
            expected=f"that process answers at {asked} (SHAREBUS_WEB_HOST:SHAREBUS_WEB_PORT)",
            actual=f"{exc.actual}; nothing answers at {asked}",
            fix=(
                "run the query where the owner's web server listens (set SHAREBUS_WEB_HOST /"
                " SHAREBUS_WEB_PORT to it), stop the owner, or move the metrics to a ClickHouse"
                " server (SHAREBUS_METRICS_URL=clickhouse://host:8123/sharebus)"
            ),
        ) from None
    with store:
        return plan(name, args, database=store.database, now=now).run(store)


def _decode(response: requests.Response, base: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict):
        return body
    if isinstance(body, dict) and "error" in body and "subject" in body:
        kind = QueryArgumentError if body["error"] == QueryArgumentError.__name__ else MetricsError
        raise kind(
            str(body["subject"]),
            str(body.get("problem") or "failed"),
            expected=body.get("expected"),
            actual=body.get("actual"),
            fix=body.get("fix"),
        )
    raise MetricsError(
        f"web server at {base}",
        "answers, but not with the metrics query API",
        actual=f"HTTP {response.status_code}: {response.text[:200]!r}",
        fix=(
            "the worker there must register streams.metrics.api.add_routes, or SHAREBUS_WEB_PORT"
            " points at another service"
        ),
    )
