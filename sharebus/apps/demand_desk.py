"""The admin's demand desk (`sharebus demand serve`): takes the workflow steps the worker's web API
accepted — each as `take_step` does for the CLI, as the user who asked — and answers each request
on the outcomes topic. Only the router writes requests (after authenticating the user), only the
admin answers them; a request is committed once answered, so a crash redoes it (refused then)."""

from __future__ import annotations

import threading
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from sharebus.apps.demands import take_step
from sharebus.catalog.orders import DeskRequest
from sharebus.catalog.workflow import DemandRefused, Step
from sharebus.core import naming
from sharebus.core.errors import SharebusError, UnreachableError
from sharebus.core.follow import follow
from sharebus.core.kafka_clients import (
    Replication,
    Role,
    admin_client,
    consumer_config,
    deliver,
    ensure_topics,
    kafka_config,
    producer_config,
)
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

DESK_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)}
"""Requests and answers are kept a week (the audit keeps each step for good)."""
ANSWER_FIX = "check the broker (`sharebus ops status`); the desk answers the request again once it is back"


def ensure_desk_topics(settings: Settings) -> None:
    """The requests and outcomes topics (one partition each: requests are taken in order)."""
    wanted = {
        naming.demand_requests_topic(settings.catalog_topic): (1, DESK_TOPIC_CONFIG),
        naming.demand_outcomes_topic(settings.catalog_topic): (1, DESK_TOPIC_CONFIG),
    }
    ensure_topics(admin_client(kafka_config(settings)), wanted, Replication.of(settings))


def answer(request_id: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    """An outcome record: the request's id, the HTTP status the web API answers with, the body."""
    return {"id": request_id, "status": status, "body": body}


class DemandDesk:
    """Takes the requested steps in order; `taken` counts those answered (for the tests)."""

    def __init__(self, settings: Settings, echo: Echo) -> None:
        self.settings = settings
        self.echo = echo
        self.requests = naming.demand_requests_topic(settings.catalog_topic)
        self.outcomes = naming.demand_outcomes_topic(settings.catalog_topic)
        ensure_desk_topics(settings)
        self.consumer = Consumer(
            consumer_config(
                settings,
                Role.ADMIN,
                {
                    "group.id": naming.DEMAND_DESK_GROUP,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                },
            )
        )
        self.consumer.subscribe([self.requests])
        self.producer = Producer(producer_config(settings, Role.ADMIN, {"acks": "all"}))
        self.taken = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.consumer.close()
        self.producer.flush(10)

    def once(self) -> float | None:
        """Answer what is waiting (up to 20 requests); raises KafkaException on a broker fault."""
        for msg in self.consumer.consume(num_messages=20, timeout=0.5):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(error)
            try:
                outcome = self.handle(msg)
                record = (self.outcomes, orjson.dumps(outcome), outcome["id"].encode())
                deliver(self.producer, [record], self.outcomes, "the answer was not written", fix=ANSWER_FIX)
                self.consumer.commit(message=msg, asynchronous=False)
            except BaseException:  # Kafka away: this request (and those after it) is taken again
                self.consumer.seek(TopicPartition(self.requests, msg.partition() or 0, msg.offset() or 0))
                raise
            self.taken += 1
        return 0.0

    def handle(self, msg: Message) -> dict[str, Any]:
        """Take one request; its answer (never raises for the request's own faults)."""
        key = msg.key()
        request_id = key.decode(errors="replace") if key else f"offset-{msg.offset()}"
        try:
            request = DeskRequest.from_dict(orjson.loads(msg.value() or b"null"))
        except (orjson.JSONDecodeError, DemandRefused) as exc:
            error = exc if isinstance(exc, DemandRefused) else DemandRefused("request", f"is not JSON: {exc}")
            self.echo(f"request {request_id}: malformed ({error.problem}); answered 422")
            return answer(request_id, 422, error.to_dict())
        what = f"request {request.id}: {request.order.step.value} by {request.user}"
        try:
            taken = take_step(self.settings, request.order.take, actor=request.actor)
        except DemandRefused as exc:
            self.echo(f"{what}: refused ({exc.problem})")
            return answer(request.id, exc.status, exc.to_dict())
        except UnreachableError:
            raise  # Kafka is away: the request is taken again once it is back
        except SharebusError as exc:
            self.echo(f"{what}: failed ({exc.problem})")
            return answer(request.id, 500, exc.to_dict())
        self.echo(
            f"{what}: demand {taken.demand.id} {taken.transition.after.value} (catalog {taken.version})"
        )
        return answer(request.id, 201 if request.order.step is Step.REQUEST else 200, taken.to_dict())

    def follow(self, interval: float = 1.0) -> None:
        follow(self.settings, "demand desk", self.once, self._stop, self.echo, interval)
