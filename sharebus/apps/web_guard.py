"""The worker's web server behind logins: every path but the health probe needs a principal — a
Kafka login over HTTP basic auth (`sharebus.core.logins`), or the scrape token for /metrics — and
the role `sharebus.core.web_roles` gives it; refusals are JSON errors naming the fix."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import faust
import orjson
from aiohttp import web

from sharebus.apps.demand_api import DEMANDS_PATH
from sharebus.apps.objections import OBJECTIONS_PATH
from sharebus.core.errors import AccessError, SharebusError
from sharebus.core.logins import LoginUnavailable, basic_credentials
from sharebus.core.settings import Settings
from sharebus.core.web_roles import USER_KEY, Access, WebRole, allowed, web_role
from streams.metrics.api import PREFIX as METRICS_API
from streams.ops.api import DASHBOARD_PATH, METRICS_PATH, STATUS_PATH
from streams.router.app import RouterService
from streams.router.worker import Fatal, WebOnly

HEALTH_PATH = "/health"
"""The one path open to anyone: `{"ok": true}` while the worker serves."""
REALM = "sharebus worker"

_OPS, _READERS = frozenset({WebRole.OPERATOR}), frozenset({WebRole.OPERATOR, WebRole.AUTHORITY})
_DEMANDS = frozenset({WebRole.AUTHORITY, WebRole.SUBSCRIBER})  # the workflow decides who does what
ACCESS: Access = (
    (DEMANDS_PATH, _DEMANDS),
    (DEMANDS_PATH + "/", _DEMANDS),
    (OBJECTIONS_PATH, _DEMANDS),  # objections: the book decides who sees and answers what
    (OBJECTIONS_PATH + "/", _DEMANDS),
    (METRICS_PATH, frozenset({WebRole.OPERATOR, WebRole.SCRAPER})),
    (STATUS_PATH, _OPS),
    (DASHBOARD_PATH, _OPS),
    (METRICS_API, _READERS),
    (METRICS_API + "/", _READERS),
)
"""Who reads what on the worker's web server (the admin reads everything, everything else is the
admin's: Faust's own views included)."""


class Logins(Protocol):
    def check(self, user: str, password: str) -> bool: ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusal(status: int, error: SharebusError) -> web.Response:
    """The error as every sharebus JSON error reads (`SharebusError.to_dict`)."""
    response = web.Response(
        body=orjson.dumps(error.to_dict()), status=status, content_type="application/json"
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return response


def guard_middleware(settings: Settings, logins: Logins, access: Access = ACCESS) -> Any:
    token = settings.web_scrape_token.get_secret_value() if settings.web_scrape_token else None
    where = f"worker web server on port {settings.web_port}"

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == HEALTH_PATH:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if token is not None and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
            who, role = "the scrape token", WebRole.SCRAPER
        else:
            creds = basic_credentials(header)
            if creds is None:
                error = AccessError(
                    where,
                    f"{request.path} needs a login",
                    fix="log in with a Kafka user of the bus (HTTP basic)",
                )
                return _refusal(401, error)
            try:
                ok = await asyncio.to_thread(logins.check, *creds)
            except LoginUnavailable as exc:
                return _refusal(503, exc)
            if not ok:
                return _refusal(
                    401,
                    AccessError(where, f"login refused for {creds[0]}", fix="check the user and password"),
                )
            who, role = f"User:{creds[0]}", web_role(settings, creds[0])
        if not allowed(access, request.path, role):
            return _refusal(
                403,
                AccessError(
                    where,
                    f"{who} ({role.value}) may not read {request.path}",
                    fix="ask the admin for the role (SHAREBUS_WEB_OPERATORS, SHAREBUS_WEB_AUTHORITIES)",
                ),
            )
        request[USER_KEY] = (who, role)
        return await handler(request)

    return middleware


class WebGuard(WebOnly):
    """A worker extension: the guard in front of every route, and the open health probe."""

    def __init__(self, settings: Settings, logins: Logins) -> None:
        self.settings = settings
        self.logins = logins

    def attach(self, app: faust.App, service: RouterService, fatal: Fatal) -> None:
        web_app: web.Application = app.web.web_app  # type: ignore[attr-defined]  # aiohttp driver

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        web_app.router.add_get(HEALTH_PATH, health)
        web_app.middlewares.append(guard_middleware(self.settings, self.logins))
