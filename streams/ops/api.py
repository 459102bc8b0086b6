"""The ops endpoints on the worker's web server — `GET /api/ops/status` (the report as JSON),
`GET /metrics` (Prometheus), `GET /dashboard` (the page) — and the client the CLI asks them with."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
import requests

from sharebus.core.errors import SharebusError
from sharebus.core.https import WEB_PLAIN_FIX, untrusted, web_session, web_url
from sharebus.core.kafka_clients import Role
from sharebus.core.logins import refused_login
from sharebus.core.settings import Settings
from streams.ops.errors import OpsError
from streams.ops.monitor import OpsMonitor
from streams.ops.prometheus import CONTENT_TYPE, exposition

if TYPE_CHECKING:
    from aiohttp import web

STATUS_PATH = "/api/ops/status"
METRICS_PATH = "/metrics"
DASHBOARD_PATH = "/dashboard"


def dashboard_html() -> bytes:
    """The dashboard page: one self-contained HTML file (inline CSS, JS and SVG; no CDN)."""
    return resources.files("streams.ops").joinpath("dashboard.html").read_bytes()


def add_routes(app: web.Application, monitor: OpsMonitor) -> None:
    """Register the ops routes on `app` (before it starts). Reports and expositions are built in
    the loop's default executor, off the event loop."""
    from aiohttp import web

    page = dashboard_html()

    async def status(request: web.Request) -> web.Response:
        try:
            report = await asyncio.get_running_loop().run_in_executor(None, monitor.report)
        except SharebusError as exc:
            return web.Response(body=orjson.dumps(exc.to_dict()), status=503, content_type="application/json")
        return web.Response(
            body=orjson.dumps(report), content_type="application/json", headers={"Cache-Control": "no-store"}
        )

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, exposition, monitor)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def dashboard(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    app.router.add_get(STATUS_PATH, status)
    app.router.add_get(METRICS_PATH, metrics)
    app.router.add_get(DASHBOARD_PATH, dashboard)


def worker_url(settings: Settings, path: str = "") -> str:
    """The worker's web server (https unless SHAREBUS_WEB_TLS=false)."""
    return web_url(settings, path)


def fetch_status(settings: Settings, *, timeout: float = 10.0) -> tuple[dict[str, Any] | None, str]:
    """The running worker's report, or None and why not (nothing answers, or no ops API there)."""
    url = worker_url(settings, STATUS_PATH)
    try:
        with web_session(settings, Role.CLIENT) as session:
            response = session.get(url, timeout=(1.0, timeout))
    except requests.exceptions.SSLError as exc:
        raise untrusted(url, settings, exc, WEB_PLAIN_FIX) from None
    except requests.ConnectionError:
        return None, f"no worker answers at {url}"
    except requests.Timeout:
        raise OpsError(
            f"ops API at {url}",
            f"did not answer within {timeout:.0f} s",
            fix="the worker is overloaded or stuck; see its log",
        ) from None
    refused_login(response, url)
    if response.status_code == 404:
        return None, f"the web server at {url} has no ops API (a worker without the Ops extension?)"
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and "subscribers" in body:
        return body, url
    raise OpsError(
        f"web server at {url}",
        "answers, but not with the ops report",
        expected="HTTP 200 with the ops status JSON",
        actual=f"HTTP {response.status_code}: {response.text[:200]!r}",
        fix="SHAREBUS_WEB_HOST/SHAREBUS_WEB_PORT may point at another service; check the worker's log",
    )
