"""pytest fixtures of the testing kit (`pytest_plugins = ["sharebus.testing.fixtures"]`): the real
local stack for a whole session, and per-test names, topics and consumers on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from sharebus.core import naming
from sharebus.core.kafka_clients import admin_client, connection
from sharebus.core.settings import Settings
from sharebus.dev.stack.manager import LocalStack


def _echo(line: str) -> None:
    print(f"[stack] {line}", flush=True)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Settings]:
    """Settings of a running stack: the components not already up are started here and stopped
    after the session (SHAREBUS_TEST_KEEP_STACK=1 keeps them); SHAREBUS_TEST_BACKEND=docker starts
    containers instead. A stack that cannot start fails the tests that need it; they never skip."""
    settings = Settings()
    if os.environ.get("SHAREBUS_TEST_BACKEND") == "docker":
        from sharebus.dev.stack.containers import ContainerStack, docker_available

        if not docker_available():
            pytest.fail("SHAREBUS_TEST_BACKEND=docker but no Docker engine answers")
        containers = ContainerStack()
        try:
            yield containers.start(settings)
        finally:
            containers.stop()
        return
    local = LocalStack(settings)
    running = {s.name for s in local.status() if s.healthy}
    try:
        report = local.up(_echo)
    except BaseException:
        for comp in reversed(local.components):  # leave the machine as it was
            if comp.name not in running:
                comp.stop()
        raise
    started = [name for name, action in report.actions.items() if action == "started"]
    _echo(f"stack ready in {report.seconds:.1f}s (started here: {', '.join(started) or 'none'})")
    before = _topics(settings) if "kafka" in started else None
    try:
        yield settings
    finally:
        if before is not None:
            _delete_new_topics(settings, before)
        # Stop only what this session started: a stack someone else runs stays as it was.
        if os.environ.get("SHAREBUS_TEST_KEEP_STACK") != "1":
            for comp in reversed(local.components):
                if comp.name in started:
                    comp.stop()
                    _echo(f"  {comp.name} stopped")


def _topics(settings: Settings) -> set[str]:
    return set(admin_client(connection(settings).admin()).list_topics(timeout=30).topics)


def _delete_new_topics(settings: Settings, before: set[str]) -> None:
    """The topics the session's tests made are deleted (share.*, cdc.*, a test's catalog…): run
    after run on one machine they piled up — thousands of partitions slow every broker start.
    The stack's own (`_…`, `sharebus…`) stay. Only when this session started Kafka: a bus someone
    runs beside the tests may have made topics meanwhile."""
    try:
        made = sorted(t for t in _topics(settings) - before if not t.startswith(("_", naming.BUS)))
        if made:
            admin = admin_client(connection(settings).admin())
            for future in admin.delete_topics(made, operation_timeout=60).values():
                future.result()
            _echo(f"  {len(made)} topic(s) the tests made deleted")
    except KafkaException as exc:  # a broker the last test left down: they stay (`make clean`)
        _echo(f"  topics the tests made not deleted: {exc}")


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names unique to this test run: unique('grp') -> 'grp_3f9a1c2b'."""
    token = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}_{token}"


@pytest.fixture
def topic_factory(local_stack: Settings) -> Iterator[Callable[..., str]]:
    """Create topics for one test; deleted afterwards."""
    admin = admin_client(connection(local_stack).admin())
    created: list[str] = []

    def make(name: str, partitions: int = 1, config: dict[str, str] | None = None) -> str:
        futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            try:
                future.result(timeout=30)
            except KafkaException as exc:  # the test deleted it itself
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise


@pytest.fixture
def consumer_factory(
    local_stack: Settings, unique: Callable[[str], str]
) -> Iterator[Callable[..., Consumer]]:
    """Consumers with their own group and short session timeouts; closed afterwards."""
    consumers: list[Consumer] = []

    def make(**extra: object) -> Consumer:
        consumer = Consumer(
            connection(local_stack).consumer(
                {
                    "group.id": unique("test-group"),
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "session.timeout.ms": 6000,
                    "heartbeat.interval.ms": 1000,
                    **extra,
                }
            )
        )
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        consumer.close()
