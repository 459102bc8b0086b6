"""Objections on the worker: `/api/objections` (a subscriber flags a record it received; the
department answers), the objections topic they are kept on and followed from, each one's record on
the department's feedback topic, its audit, and the correction a source change makes."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiohttp import web
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from schemas.keys import key_bytes, parse_share_key
from sharebus.apps.web_api import error_response, json_body, json_response, logged_in
from sharebus.catalog.models import Catalog
from sharebus.catalog.workflow import Actor
from sharebus.core import naming
from sharebus.core.audit import OBJECTION_ANSWER, OBJECTION_RAISE, AuditLog, event
from sharebus.core.errors import SharebusError, UnreachableError
from sharebus.core.https import web_request, web_url
from sharebus.core.kafka_clients import (
    Role,
    consumer_config,
    deliver,
    producer_config,
    read_partition,
    watermarks,
)
from sharebus.core.logins import refused_login
from sharebus.core.settings import Settings
from streams.objections import (
    Objection,
    ObjectionRefused,
    ObjectionState,
    answered,
    changed_fields,
    corrected,
    new_objection,
)
from streams.router.app import RouterService
from streams.router.batch import BatchOutput
from streams.router.records import RawRecord
from streams.router.worker import Fatal

log = logging.getLogger(__name__)

OBJECTIONS_PATH = "/api/objections"


class ObjectionBook:
    """Every objection the worker knows (the topic's, then its own writes), and the open ones by
    their record's source key (Debezium's key bytes), for the look at each change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_id: dict[str, Objection] = {}
        self._open: dict[bytes, set[str]] = {}

    def put(self, objection: Objection) -> None:
        """Keep `objection` unless the book has a newer state of it (the topic's records arrive
        after the worker's own writes: an older one never undoes a newer)."""
        with self._lock:
            old = self.by_id.get(objection.id)
            if old is not None and _changed_at(old) > _changed_at(objection):
                return
            if old is not None:
                held = self._open.get(key_bytes(old.key))
                if held is not None:
                    held.discard(old.id)
                    if not held:
                        del self._open[key_bytes(old.key)]
            self.by_id[objection.id] = objection
            if not objection.resolved:
                self._open.setdefault(key_bytes(objection.key), set()).add(objection.id)

    def all(self) -> list[Objection]:
        with self._lock:
            return list(self.by_id.values())

    def open_for(self, key: bytes) -> list[Objection]:
        with self._lock:
            return [self.by_id[i] for i in self._open.get(key, ())]

    @property
    def any_open(self) -> bool:
        return bool(self._open)


def _changed_at(objection: Objection) -> datetime:
    return objection.updated_at or objection.raised_at


def visible_to(objections: Iterable[Objection], actor: Actor) -> list[Objection]:
    """A subscriber sees its own, a department those about its resources, the authority every one."""
    return [
        o
        for o in objections
        if actor.authority or o.subscriber == actor.subscriber or o.department == actor.subscriber
    ]


class ObjectionApi:
    """A worker extension: the routes, the follower of the objections topic, and the correction of
    an open objection when the source changes an objected field of its record."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = naming.objections_topic(settings.catalog_topic)
        self.book = ObjectionBook()
        self._service: RouterService | None = None
        self._producer: Producer | None = None
        self._audit = AuditLog(settings, Role.ROUTER)

    # --- the worker's hooks ------------------------------------------------------------------
    def attach(self, app: faust.App, service: RouterService, fatal: Fatal) -> None:
        self._service = service
        self._producer = Producer(producer_config(self.settings, Role.ROUTER, {"acks": "all"}))
        service.followed.append((self.topic, naming.OBJECTIONS_FOLLOWER_GROUP, self._apply))
        self.add_routes(app.web.web_app)  # type: ignore[attr-defined]  # aiohttp driver

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_get(OBJECTIONS_PATH, self.list_objections)
        web_app.router.add_post(OBJECTIONS_PATH, self.raise_objection)
        web_app.router.add_post(OBJECTIONS_PATH + "/{id}/{action}", self.answer_objection)

    def on_records_read(self, records: list[RawRecord]) -> None:
        """An update of an objected field of an open objection's record corrects it (rare: the
        common batch is done after one check of the open set)."""
        if not self.book.any_open:
            return
        now = datetime.now(UTC)
        for rec in records:
            if rec.key is None or rec.value is None:
                continue
            candidates = self.book.open_for(rec.key)
            if not candidates:
                continue
            try:
                change = orjson.loads(rec.value)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(change, dict) or change.get("op") != "u":
                continue
            resource = self._resource_of(change)
            before, after = change.get("before"), change.get("after")
            if not isinstance(before, dict) or not isinstance(after, dict):
                continue
            for o in candidates:
                if o.resource == resource and changed_fields(o, before, after):
                    self._write(corrected(o, now), wait=False)

    def on_batch_done(self, out: BatchOutput, delivered_at: float) -> None:
        pass

    def persist(self) -> None:
        """Corrections made while routing are on Kafka before the offsets move past their changes
        (an outage is waited out within the worker's tolerance)."""
        if self._producer is None or self._service is None:
            return
        if self._service.watch.flush(self._producer, 30) > 0:
            raise SharebusError(
                f"objections topic {self.topic}", "corrections not acknowledged", fix="check the broker"
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)

    # --- routes ------------------------------------------------------------------------------
    async def list_objections(self, request: web.Request) -> web.Response:
        actor = self._actor(request)
        if isinstance(actor, web.Response):
            return actor
        state = request.query.get("state")
        rows = [
            o.to_dict()
            for o in sorted(visible_to(self.book.all(), actor), key=lambda o: o.raised_at)
            if state is None or o.state.value == state
        ]
        return json_response({"objections": rows})

    async def raise_objection(self, request: web.Request) -> web.Response:
        actor = self._actor(request)
        if isinstance(actor, web.Response):
            return actor
        body = await json_body(request, ObjectionRefused)
        if isinstance(body, web.Response):
            return body
        now = datetime.now(UTC)
        try:
            objection = new_objection(self._catalog(), actor.subscriber, body, uuid.uuid4().hex[:16], now)
            await asyncio.to_thread(self._check_received, objection)
            await asyncio.to_thread(self._write, objection)
        except ObjectionRefused as exc:
            return error_response(exc.status, exc)
        except SharebusError as exc:
            return error_response(503, exc)
        return json_response({"objection": objection.to_dict()}, 201)

    async def answer_objection(self, request: web.Request) -> web.Response:
        actor = self._actor(request)
        if isinstance(actor, web.Response):
            return actor
        body = await json_body(request, ObjectionRefused)
        if isinstance(body, web.Response):
            return body
        found = self.book.by_id.get(request.match_info["id"])
        try:
            if found is None or not visible_to([found], actor):  # another's is as unknown as none
                missing = f"objection {request.match_info['id']}"
                raise ObjectionRefused(missing, "no such objection", kind=ObjectionRefused.MISSING)
            given = body.get("reason")
            reason = given if isinstance(given, str) else ""
            now = datetime.now(UTC)
            after = answered(
                found,
                request.match_info["action"],
                actor.user,
                authority=actor.authority,
                reason=reason,
                now=now,
            )
            await asyncio.to_thread(self._write, after)
        except ObjectionRefused as exc:
            return error_response(exc.status, exc)
        except SharebusError as exc:
            return error_response(503, exc)
        return json_response({"objection": after.to_dict()})

    # --- the record received, the writes -------------------------------------------------------
    def _check_received(self, objection: Objection) -> None:
        """The record at the objection's offset on the subscriber's own topic is the one objected
        to, and was not a deletion: a subscriber objects only to what it received."""
        topic = naming.share_topic(objection.subscriber, objection.department)
        consumer = Consumer(
            consumer_config(
                self.settings,
                Role.ROUTER,
                {
                    "group.id": naming.OBJECTIONS_FOLLOWER_GROUP,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                },
            )
        )
        try:
            tp = TopicPartition(topic, 0)
            found = next(iter(read_partition(consumer, tp, objection.offset, objection.offset + 1, 10)), None)
        finally:
            consumer.close()
        try:
            ok = found is not None and found.offset() == objection.offset and found.value() is not None
            ok = ok and parse_share_key(found.key() or b"") == (objection.resource, objection.key)  # type: ignore[union-attr]
        except ValueError:
            ok = False
        if not ok:
            raise ObjectionRefused(
                f"record {objection.resource} {objection.key} at offset {objection.offset} of {topic}",
                "is not a record this subscriber received",
                kind=ObjectionRefused.FORBIDDEN,
                fix="object to a row of your copy: its key and its sharebus_offset column",
            )

    def _write(self, objection: Objection, *, wait: bool = True) -> None:
        """Keep the objection's state (the objections topic), tell its department (the feedback
        topic) and audit it; with `wait`, once Kafka has them."""
        assert self._producer is not None
        records = [
            (self.topic, orjson.dumps(objection.to_dict()), objection.id.encode()),
            (
                naming.feedback_topic(objection.department),
                orjson.dumps(self._feedback(objection)),
                self._key(objection),
            ),
        ]
        if wait:
            deliver(
                self._producer,
                records,
                f"objections topic {self.topic}",
                "did not take the objection",
                fix="check the broker and send it again",
            )
        else:
            for topic, value, key in records:
                self._producer.produce(topic, value, key)
            self._producer.poll(0)
        self.book.put(objection)
        action = OBJECTION_RAISE if objection.state is ObjectionState.OPEN else OBJECTION_ANSWER
        detail = {
            "id": objection.id,
            "state": objection.state.value,
            "fields": list(objection.fields),
            "by": objection.answered_by or objection.subscriber,
        }
        audited = event(
            self.settings,
            action,
            objection.subscriber,
            objection.resource,
            catalog_version=None,
            role=Role.ROUTER,
            detail=detail,
        )

        def audit() -> None:
            try:
                self._audit.write([audited])
            except SharebusError as exc:
                log.error("objection %s was not audited: %s", objection.id, exc)

        threading.Thread(target=audit, name="objection-audit", daemon=True).start()

    def _feedback(self, objection: Objection) -> dict[str, Any]:
        assert self._service is not None
        resp = self._service.policy.responsibility(objection.resource)
        return {
            "problem": "objection",
            **objection.to_dict(),
            "responsible_unit": resp.unit if resp is not None else None,
            "contact": resp.contact.model_dump(exclude_none=True) if resp is not None else None,
        }

    @staticmethod
    def _key(objection: Objection) -> bytes:
        return naming.objection_feedback_key(objection.resource, objection.id).encode()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        """A record of the objections topic (the worker's follower of it calls this)."""
        if value is None:
            return
        try:
            self.book.put(Objection.from_dict(orjson.loads(value)))
        except (ValueError, KeyError, TypeError) as exc:
            log.error(
                "objections topic %s: record %r is not an objection (%s); skipped", self.topic, key, exc
            )

    # --- helpers -----------------------------------------------------------------------------
    def _resource_of(self, change: dict[str, Any]) -> str | None:
        source = change.get("source")
        if not isinstance(source, dict) or self._service is None:
            return None
        where = (source.get("name"), source.get("schema") or source.get("db"), source.get("table"))
        checks = self._service.router.checks.by_source.get(where)  # type: ignore[arg-type]
        return checks.resource if checks is not None else None

    def _catalog(self) -> Catalog:
        assert self._service is not None
        return self._service.policy.catalog

    def _actor(self, request: web.Request) -> Actor | web.Response:
        return logged_in(
            request,
            f"{OBJECTIONS_PATH} on port {self.settings.web_port}",
            "turn SASL on (SHAREBUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL)",
        )


def ask(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """`method path` on the worker's objections API as SHAREBUS_KAFKA_USER: its JSON answer, or
    the refusal as an error naming the objection and the fix."""
    url = web_url(settings, OBJECTIONS_PATH + path)
    response = web_request(settings, method, OBJECTIONS_PATH + path, json=body)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not (isinstance(answer, dict) and answer.get("error") == "ObjectionRefused"):
        refused_login(response, url)  # the login or the role refused (401, 403)
    elif response.status_code >= 300:  # the objection refused: not the caller's, not possible
        raise ObjectionRefused(
            str(answer.get("subject")),
            str(answer.get("problem")),
            expected=answer.get("expected"),
            fix=answer.get("fix"),
        )
    if response.status_code >= 300 or not isinstance(answer, dict):
        problem = answer.get("problem") if isinstance(answer, dict) else None
        raise SharebusError(
            f"worker web API at {url}",
            str(problem or "did not answer with objections"),
            actual=f"HTTP {response.status_code}: {response.text[:200]!r}",
            fix="check the request; SHAREBUS_WEB_HOST/SHAREBUS_WEB_PORT may point at another service",
        )
    return answer


def read_objections(settings: Settings, timeout: float = 15.0) -> list[Objection]:
    """Every objection as it stands (the objections topic to its end, as the admin); none when no
    worker made the topic yet."""
    consumer = Consumer(
        consumer_config(
            settings,
            Role.ADMIN,
            {
                "group.id": naming.OBJECTIONS_FOLLOWER_GROUP,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    topic = naming.objections_topic(settings.catalog_topic)
    try:
        if topic not in consumer.list_topics(topic, timeout=timeout).topics:
            return []
        tp = TopicPartition(topic, 0)
        low, high = watermarks(consumer, tp, timeout)
        book = ObjectionBook()
        for msg in read_partition(consumer, tp, low, high, timeout, strict=True) if high > low else ():
            try:
                book.put(Objection.from_dict(orjson.loads(msg.value() or b"{}")))
            except (ValueError, KeyError, TypeError):
                continue  # the worker logs what is not an objection
        return book.all()
    except (KafkaException, TimeoutError) as exc:
        raise UnreachableError(
            f"objections topic {topic}",
            "was not read to its end",
            actual=str(exc),
            fix="check Kafka (`sharebus stack status`) and re-run",
        ) from None
    finally:
        consumer.close()
