"""Who may do what on the schema registry: HTTP basic auth (what confluent-kafka's
`SchemaRegistryClient` sends for `basic.auth.user.info`) checked by a `Guard`; writers (the
router, the admin) may do everything, every other principal may read the subjects it is
entitled to only. The middleware answers refusals as the registry answers errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from sharebus.core.logins import basic_credentials

REALM = "sharebus schema registry"


@dataclass(frozen=True)
class Caller:
    """An authenticated principal: `writer` may register and configure; a reader reads the
    subjects `may_read` allows (and the schema ids they use)."""

    name: str
    writer: bool
    may_read: Callable[[str], bool]


class GuardUnavailable(Exception):
    """The guard cannot tell now (Kafka, where logins are checked, does not answer)."""


class Guard(Protocol):
    def caller(self, user: str, password: str) -> Caller | None:
        """The caller these credentials log in as; None when they are refused."""
        ...


def _refusal(status: int, code: int, message: str) -> web.Response:
    response = web.json_response({"error_code": code, "message": message}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return response


_READ_POSTS = (
    re.compile(r"/subjects/[^/]+$"),
    re.compile(r"/compatibility/subjects/[^/]+/versions(/[^/]+)?$"),
)
"""POSTs that only read: a schema's lookup under a subject, a compatibility check."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard_middleware(guard: Guard, prefix: str, open_paths: frozenset[str]) -> Callable[..., object]:
    """Every request but `open_paths` (the health probe) logs in; readers are refused writes and
    subjects they are not entitled to (the handlers filter listings and check schema ids)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        creds = basic_credentials(request.headers.get("Authorization"))
        if creds is None:
            return _refusal(401, 40101, "Log in with HTTP basic auth as a principal of the bus")
        try:
            caller = await asyncio.to_thread(guard.caller, *creds)  # a login may ask Kafka
        except GuardUnavailable as exc:
            return _refusal(503, 50301, f"Cannot check the login now: {exc}")
        if caller is None:
            return _refusal(401, 40101, f"Login refused for {creds[0]}")
        request[_CALLER] = caller
        if not caller.writer:
            path = request.path[len(prefix) :]
            reads = request.method in ("GET", "HEAD") or (
                request.method == "POST" and any(p.match(path) for p in _READ_POSTS)
            )
            if not reads:
                return _refusal(
                    403, 40301, f"User:{caller.name} may only read: {request.method} {path} writes"
                )
            subject = request.match_info.get("subject")
            if subject is not None and not caller.may_read(subject):
                return _refusal(403, 40301, f"User:{caller.name} is not entitled to subject {subject}")
        return await handler(request)

    return middleware


_CALLER = "sharebus.caller"


def reader_of(request: web.Request) -> Caller | None:
    """The reader making `request` (None: a writer, or no guard): listings are filtered for it."""
    caller = request.get(_CALLER)
    return caller if isinstance(caller, Caller) and not caller.writer else None
