"""The JSON web APIs' common parts (`/api/demands`, `/api/objections`): answers, the request body,
and the logged-in caller as a workflow actor."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sharebus.catalog.workflow import Actor
from sharebus.core.errors import AccessError, Refused, SharebusError
from sharebus.core.web_roles import USER_KEY, WebRole


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(status: int, error: SharebusError) -> web.Response:
    return json_response(error.to_dict(), status)


async def json_body(request: web.Request, refused: type[Refused]) -> dict[str, Any] | web.Response:
    """The request's JSON object (empty without a body), or its 400 answer as a `refused`."""
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        return error_response(400, refused("the body", f"is not JSON: {exc}", kind=Refused.INVALID))
    if not isinstance(body, dict):
        return error_response(400, refused("the body", "is not a JSON object", kind=Refused.INVALID))
    return body


def actor_of(request: web.Request) -> Actor | None:
    """The logged-in caller as a workflow actor (None: the bus has no logins)."""
    caller = request.get(USER_KEY)
    if caller is None:
        return None
    who, role = caller
    return Actor(who.removeprefix("User:"), authority=role in (WebRole.ADMIN, WebRole.AUTHORITY))


def logged_in(request: web.Request, where: str, fix: str) -> Actor | web.Response:
    """The caller, or the 403 answer of `where` when the bus has no logins."""
    actor = actor_of(request)
    if actor is None:
        error = AccessError(where, "needs a logged-in user, and this bus has no logins", fix=fix)
        return error_response(403, error)
    return actor
