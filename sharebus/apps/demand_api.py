"""The demand workflow on the worker's web API (`/api/demands`, JSON): a logged-in subscriber sees
and requests its own demands, the data authority sees and decides every one. Reads come from the
policy in force; a step is checked against it at once (a refusal is answered there), then handed to
the admin's demand desk, which alone writes the catalog, and its answer is returned."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiohttp import web
from confluent_kafka import Consumer, Producer, TopicPartition

from sharebus.apps.web_api import error_response, json_body, json_response, logged_in
from sharebus.catalog.demand_view import demand_row, select
from sharebus.catalog.models import Catalog
from sharebus.catalog.orders import DeskRequest, StepOrder
from sharebus.catalog.workflow import Actor, DemandRefused, DemandState, Step, visible
from sharebus.core import naming
from sharebus.core.errors import SharebusError
from sharebus.core.https import web_request, web_url
from sharebus.core.kafka_clients import Role, consumer_config, deliver, producer_config, watermarks
from sharebus.core.logins import refused_login
from sharebus.core.settings import Settings
from streams.metrics.window import parse_duration
from streams.router.app import RouterService
from streams.router.worker import Fatal, WebOnly

DEMANDS_PATH = "/api/demands"
DESK_TIMEOUT = 30.0
"""Seconds a step waits for the desk's answer before it is answered 202 (queued)."""
IN_FORCE_TIMEOUT = 10.0
"""Seconds an answered step waits for its catalog version to be in force here (read your writes)."""
DESK_FIX = "the admin's demand desk takes it when it runs (`sharebus demand serve`; `sharebus run` starts it)"


class DeskClient:
    """Hands a request to the desk (as the router) and waits for its answer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.requests = naming.demand_requests_topic(settings.catalog_topic)
        self.outcomes = naming.demand_outcomes_topic(settings.catalog_topic)
        self.producer = Producer(producer_config(settings, Role.ROUTER, {"acks": "all"}))

    def submit(self, request: DeskRequest, timeout: float = DESK_TIMEOUT) -> dict[str, Any] | None:
        """The desk's outcome record for `request`, or None when none came within `timeout`."""
        consumer = Consumer(
            consumer_config(
                self.settings,
                Role.ROUTER,
                {
                    "group.id": naming.DEMAND_OUTCOME_READER_GROUP,
                    "enable.auto.commit": False,
                    "enable.partition.eof": False,
                },
            )
        )
        try:
            meta = consumer.list_topics(self.outcomes, timeout=10).topics.get(self.outcomes)
            if meta is None or meta.error is not None:
                raise SharebusError(
                    f"demand desk ({self.outcomes})",
                    "has never run: nothing would take the step",
                    fix=DESK_FIX,
                )
            _, end = watermarks(consumer, TopicPartition(self.outcomes, 0), 10.0)
            deliver(
                self.producer,
                [(self.requests, orjson.dumps(request.to_dict()), request.id.encode())],
                self.requests,
                "did not take the request",
                fix="check the broker (`sharebus ops status`) and send it again",
                timeout=10.0,
            )
            consumer.assign([TopicPartition(self.outcomes, 0, end)])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                if msg.key() == request.id.encode():
                    found: dict[str, Any] = orjson.loads(msg.value() or b"{}")
                    return found
            return None
        finally:
            consumer.close()

    def close(self) -> None:
        self.producer.flush(5)


def fetch_demands(settings: Settings, params: dict[str, str], *, timeout: float = 30.0) -> dict[str, Any]:
    """`GET /api/demands` as SHAREBUS_KAFKA_USER (`demand list --mine`): the demands the worker
    shows that user — a subscriber its own, a department those for its resources."""
    url = web_url(settings, DEMANDS_PATH)
    response = web_request(settings, "GET", DEMANDS_PATH, params=params, timeout=timeout)
    refused_login(response, url)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "demands" not in body:
        problem = body.get("problem") if isinstance(body, dict) else None
        raise SharebusError(
            f"worker web API at {url}",
            str(problem or "did not answer with the demands"),
            actual=f"HTTP {response.status_code}: {response.text[:200]!r}",
            fix="check the query; SHAREBUS_WEB_HOST/SHAREBUS_WEB_PORT may point at another service",
        )
    return body


class DemandApi(WebOnly):
    """A worker extension: the `/api/demands` routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._service: RouterService | None = None
        self._desk: DeskClient | None = None

    @property
    def desk(self) -> DeskClient:
        if self._desk is None:
            self._desk = DeskClient(self.settings)
        return self._desk

    def attach(self, app: faust.App, service: RouterService, fatal: Fatal) -> None:
        self.add_routes(app.web.web_app, service)  # type: ignore[attr-defined]  # aiohttp driver

    def add_routes(self, web_app: web.Application, service: RouterService) -> None:
        self._service = service
        web_app.router.add_get(DEMANDS_PATH, self.list_demands)
        web_app.router.add_post(DEMANDS_PATH, self.request_demand)
        web_app.router.add_get(DEMANDS_PATH + "/{id}", self.show_demand)
        web_app.router.add_post(DEMANDS_PATH + "/{id}/{step}", self.decide_demand)

    # --- reads -------------------------------------------------------------------------------
    async def list_demands(self, request: web.Request) -> web.Response:
        actor = self._actor(request)
        if isinstance(actor, web.Response):
            return actor
        catalog, now = self._catalog(), datetime.now(UTC)
        query = request.query
        try:
            state = DemandState(query["state"]) if "state" in query else None
            horizon = parse_duration(query["expiring"], option="expiring") if "expiring" in query else None
        except (ValueError, SharebusError) as exc:
            problem = exc.problem if isinstance(exc, SharebusError) else str(exc)
            return error_response(400, DemandRefused("query", problem, kind=DemandRefused.INVALID))
        mine = visible(catalog, actor)
        chosen = select(mine, now, subscriber=query.get("subscriber"), state=state, expiring=horizon)
        rows = [demand_row(d, now) for d in chosen]
        return json_response({"version": catalog.version, "at": now.isoformat(), "demands": rows})

    async def show_demand(self, request: web.Request) -> web.Response:
        actor = self._actor(request)
        if isinstance(actor, web.Response):
            return actor
        catalog, demand_id = self._catalog(), request.match_info["id"]
        found = next((d for d in visible(catalog, actor) if d.id == demand_id), None)
        if found is None:  # another subscriber's demand is as unknown as a missing one
            missing = DemandRefused(f"demand {demand_id}", "no such demand", kind=DemandRefused.MISSING)
            return error_response(404, missing)
        return json_response({"version": catalog.version, "demand": demand_row(found, datetime.now(UTC))})

    # --- steps -------------------------------------------------------------------------------
    async def request_demand(self, request: web.Request) -> web.Response:
        return await self._step(request, {"step": Step.REQUEST.value})

    async def decide_demand(self, request: web.Request) -> web.Response:
        step = request.match_info["step"]
        if step not in (Step.APPROVE, Step.REJECT, Step.REVOKE):
            bad = DemandRefused(
                f"step {step!r}", "is not approve, reject or revoke", kind=DemandRefused.MISSING
            )
            return error_response(404, bad)
        return await self._step(request, {"step": step, "demand": request.match_info["id"]})

    async def _step(self, request: web.Request, fixed: dict[str, str]) -> web.Response:
        actor = self._actor(request)
        if isinstance(actor, web.Response):
            return actor
        body = await json_body(request, DemandRefused)
        if isinstance(body, web.Response):
            return body
        if fixed["step"] == Step.REQUEST and "subscriber" not in body:
            body["subscriber"] = actor.subscriber  # a subscriber asks for itself
        try:
            order = StepOrder.from_dict({**body, **fixed})
            order.take(self._catalog(), actor, datetime.now(UTC))  # refused here, at once
        except DemandRefused as exc:
            return error_response(exc.status, exc)
        desk_request = DeskRequest(order, actor.user, actor.authority)
        try:
            outcome = await asyncio.to_thread(self.desk.submit, desk_request)
        except SharebusError as exc:
            return error_response(503, exc)
        if outcome is None:
            queued = {"request": desk_request.id, "state": "queued", "fix": DESK_FIX}
            return json_response(queued, 202)
        status, answer = int(outcome.get("status", 500)), outcome.get("body", {})
        if status < 300 and isinstance(answer, dict) and isinstance(answer.get("version"), str):
            await self._in_force(answer["version"])
        return json_response(answer, status)

    # --- helpers -----------------------------------------------------------------------------
    def _actor(self, request: web.Request) -> Actor | web.Response:
        """The caller, or the refusal when the bus has no logins."""
        return logged_in(
            request,
            f"{DEMANDS_PATH} on port {self.settings.web_port}",
            "turn SASL on (SHAREBUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL) or use `sharebus demand`",
        )

    def _catalog(self) -> Catalog:
        assert self._service is not None
        return self._service.policy.catalog

    async def _in_force(self, version: str) -> None:
        assert self._service is not None
        deadline = time.monotonic() + IN_FORCE_TIMEOUT
        while self._service.policy.version != version and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def close(self) -> None:
        if self._desk is not None:
            self._desk.close()
