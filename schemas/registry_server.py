"""A schema registry speaking the Confluent REST API (the subset Kafka tools use), backed by a
compacted Kafka topic; served by `python -m sharebus.apps.registry` (`sharebus stack up`)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from schemas.registry_guard import Guard, guard_middleware, reader_of
from schemas.registry_state import ApiError, Registry, RegistryState, validate_schema

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
REGISTRY_KEY: web.AppKey[Registry] = web.AppKey("registry", Registry)

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False), status=status, content_type=CONTENT_TYPE.split(";")[0]
    )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer refusals as Confluent does: {"error_code": …, "message": …}."""
    try:
        return await handler(request)
    except ApiError as err:
        return _json({"error_code": err.error_code, "message": err.message}, err.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json({"error_code": exc.status, "message": exc.reason}, exc.status)
    except Exception as exc:  # a fault must answer JSON too, and be logged
        log.exception("%s %s failed", request.method, request.path)
        return _json({"error_code": 50001, "message": f"{type(exc).__name__}: {exc}"}, 500)


def _registry(request: web.Request) -> Registry:
    return request.app[REGISTRY_KEY]


async def _body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except ValueError as exc:
        raise ApiError(422, 42201, f"Request body is not JSON: {exc}") from exc


def _schema_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise ApiError(404, 40403, f"Schema {raw} not found")
    return int(raw)


# --- handlers ------------------------------------------------------------------------------------
async def root(request: web.Request) -> web.Response:
    return _json({})


def _readable_usage(request: web.Request) -> list[tuple[str, int]]:
    """The (subject, version) pairs using the id asked for that the caller may read; a reader
    entitled to none of them is refused (403), as for a subject it is not entitled to."""
    schema_id = _schema_id(request)
    state = _registry(request).state
    usage = state.usage(schema_id)
    reader = reader_of(request)
    if reader is None:
        return usage
    state.schema(schema_id)  # 40403 for an unknown id, as for anyone
    mine = [(s, v) for s, v in usage if reader.may_read(s)]
    if not mine:
        raise ApiError(403, 40301, f"User:{reader.name} is not entitled to a subject of schema {schema_id}")
    return mine


async def schema_by_id(request: web.Request) -> web.Response:
    _readable_usage(request)
    return _json({"schema": _registry(request).state.schema(_schema_id(request))})


async def schema_versions(request: web.Request) -> web.Response:
    return _json([{"subject": s, "version": v} for s, v in _readable_usage(request)])


async def schema_subjects(request: web.Request) -> web.Response:
    return _json(sorted({s for s, _ in _readable_usage(request)}))


async def schema_types(request: web.Request) -> web.Response:
    return _json(["AVRO"])


async def subjects(request: web.Request) -> web.Response:
    names = _registry(request).state.subject_names()
    reader = reader_of(request)
    return _json(names if reader is None else [s for s in names if reader.may_read(s)])


async def versions(request: web.Request) -> web.Response:
    return _json(_registry(request).state.versions(request.match_info["subject"]))


def _version_body(state: RegistryState, subject: str, version: str) -> dict[str, Any]:
    number, schema_id = state.version(subject, version)
    return {"subject": subject, "version": number, "id": schema_id, "schema": state.schema(schema_id)}


async def version(request: web.Request) -> web.Response:
    info = request.match_info
    return _json(_version_body(_registry(request).state, info["subject"], info["version"]))


async def version_schema(request: web.Request) -> web.Response:
    info = request.match_info
    body = _version_body(_registry(request).state, info["subject"], info["version"])
    return web.Response(text=body["schema"], content_type="application/json")


async def register(request: web.Request) -> web.Response:
    text = validate_schema(await _body(request))
    registry = _registry(request)
    # Writing waits for Kafka: off the event loop, so reads keep being answered meanwhile.
    schema_id = await asyncio.to_thread(registry.register, request.match_info["subject"], text)
    return _json({"id": schema_id})


async def lookup(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    text = validate_schema(await _body(request))
    state = _registry(request).state
    state.versions(subject)  # 40401 when the subject is unknown
    found = state.lookup(subject, text)
    if found is None:
        raise ApiError(404, 40403, "Schema not found")
    number, schema_id = found
    return _json({"subject": subject, "version": number, "id": schema_id, "schema": text})


async def compatibility(request: web.Request) -> web.Response:
    info = request.match_info
    text = validate_schema(await _body(request))
    state = _registry(request).state
    against = None
    if "version" in info:
        against = [state.version(info["subject"], info["version"])[1]]
    else:
        state.versions(info["subject"])
    issues = state.incompatibilities(info["subject"], text, against)
    body: dict[str, Any] = {"is_compatible": not issues}
    if request.query.get("verbose") == "true":
        body["messages"] = issues
    return _json(body)


async def get_config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    return _json({"compatibilityLevel": _registry(request).state.level(subject)})


async def put_config(request: web.Request) -> web.Response:
    body = await _body(request)
    level = str(body.get("compatibility", "")).upper() if isinstance(body, dict) else ""
    subject = request.match_info.get("subject")
    applied = await asyncio.to_thread(_registry(request).set_level, subject, level)
    return _json({"compatibility": applied})


def make_app(registry: Registry, prefix: str = "", guard: Guard | None = None) -> web.Application:
    """The HTTP API over `registry`, under path `prefix` (e.g. '' or '/registry'). With a `guard`,
    every request but the health probe (`GET <prefix>/`) logs in (registry_guard)."""
    p = prefix.rstrip("/")
    middlewares: list[Any] = [_errors]
    if guard is not None:
        middlewares.append(guard_middleware(guard, p, frozenset({f"{p}/"})))
    app = web.Application(middlewares=middlewares)
    app[REGISTRY_KEY] = registry
    app.add_routes(
        [
            web.get(f"{p}/", root),
            web.get(f"{p}/schemas/types", schema_types),
            web.get(f"{p}/schemas/ids/{{id}}", schema_by_id),
            web.get(f"{p}/schemas/ids/{{id}}/versions", schema_versions),
            web.get(f"{p}/schemas/ids/{{id}}/subjects", schema_subjects),
            web.get(f"{p}/subjects", subjects),
            web.post(f"{p}/subjects/{{subject}}", lookup),
            web.get(f"{p}/subjects/{{subject}}/versions", versions),
            web.post(f"{p}/subjects/{{subject}}/versions", register),
            web.get(f"{p}/subjects/{{subject}}/versions/{{version}}", version),
            web.get(f"{p}/subjects/{{subject}}/versions/{{version}}/schema", version_schema),
            web.post(f"{p}/compatibility/subjects/{{subject}}/versions/{{version}}", compatibility),
            web.post(f"{p}/compatibility/subjects/{{subject}}/versions", compatibility),
            web.get(f"{p}/config", get_config),
            web.put(f"{p}/config", put_config),
            web.get(f"{p}/config/{{subject}}", get_config),
            web.put(f"{p}/config/{{subject}}", put_config),
        ]
    )
    return app


def memory_registry() -> Registry:
    """A registry that keeps nothing across restarts (tests, `--memory`)."""
    state = RegistryState()

    def append(records: list[Any]) -> None:
        for record in records:
            state.apply(record)

    return Registry(state, append)


class BackgroundServer:
    """The HTTP API served from a thread of this process (tests, or a worker hosting it)."""

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "",
        guard: Guard | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(make_app(registry, prefix, guard), access_log=None)
        self._thread = threading.Thread(target=self._loop.run_forever, name="registry-http", daemon=True)
        self._thread.start()
        site_port = asyncio.run_coroutine_threadsafe(self._start(host, port), self._loop).result(30)
        self.url = f"http://{host}:{site_port}{prefix.rstrip('/')}"

    async def _start(self, host: str, port: int) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # the bound socket tells the port when 0 was asked for
        assert isinstance(server, asyncio.base_events.Server)
        return int(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
