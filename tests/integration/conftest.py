"""Integration fixtures: one session-scoped real stack, and factories giving each test its own
topics, consumer groups and capture connectors."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import NewTopic

from connectors.client import ConnectClient
from connectors.publication import drop_publication, drop_slot
from connectors.register import register_postgres
from connectors.render import CaptureSpec
from connectors.samples import sample_spec
from sharebus.samples.database import apply_schema
from sharebus.samples.departments import DEPARTMENTS, get_department
from sharebus.settings import Settings
from sharebus.stack.kafka import admin_client
from sharebus.stack.manager import LocalStack
from tests.integration.router_harness import RouterProcess, free_port


def _echo(line: str) -> None:
    print(f"[stack] {line}", flush=True)


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """Settings of a running stack: started here when not already up, stopped after if so.

    A stack that cannot start fails the tests that need it; they never skip.
    """
    settings = Settings()
    if os.environ.get("SHAREBUS_TEST_BACKEND") == "docker":
        from sharebus.stack.containers import ContainerStack, docker_available

        if not docker_available():
            pytest.fail("SHAREBUS_TEST_BACKEND=docker but no Docker engine answers")
        containers = ContainerStack()
        settings = containers.start(settings)
        try:
            _prepare_departments(settings)
            yield settings
        finally:
            containers.stop()
        return
    local = LocalStack(settings)
    report = local.up(_echo)
    started = [name for name, action in report.actions.items() if action == "started"]
    _echo(f"stack ready in {report.seconds:.1f}s (started here: {', '.join(started) or 'none'})")
    _prepare_departments(settings)
    try:
        yield settings
    finally:
        # Stop only what this session started: a stack someone else runs stays as it was.
        if os.environ.get("SHAREBUS_TEST_KEEP_STACK") != "1":
            for comp in reversed(local.components):
                if comp.name in started:
                    comp.stop()
                    _echo(f"  {comp.name} stopped")


def _prepare_departments(settings: Settings) -> None:
    for dept in DEPARTMENTS:
        apply_schema(settings, dept)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names unique to this test run: unique('grp') -> 'grp_3f9a1c2b'."""
    token = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}_{token}"


@pytest.fixture
def topic_factory(stack_settings: Settings) -> Iterator[Callable[..., str]]:
    """Create topics for one test; deleted afterwards."""
    admin = admin_client(stack_settings.kafka_bootstrap)
    created: list[str] = []

    def make(name: str, partitions: int = 1, config: dict[str, str] | None = None) -> str:
        futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)


@pytest.fixture
def consumer_factory(
    stack_settings: Settings, unique: Callable[[str], str]
) -> Iterator[Callable[..., Consumer]]:
    """Consumers with their own group and short session timeouts; closed afterwards."""
    consumers: list[Consumer] = []

    def make(**extra: object) -> Consumer:
        conf: dict[str, object] = {
            "bootstrap.servers": stack_settings.kafka_bootstrap,
            "group.id": unique("test-group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            **extra,
        }
        consumer = Consumer(conf)
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        consumer.close()


@pytest.fixture
def capture_factory(
    stack_settings: Settings, unique: Callable[[str], str]
) -> Iterator[Callable[[str], CaptureSpec]]:
    """Per-test Debezium connectors on a sample department's database, with their own slot,
    publication and topic prefix (`cdc.<unique>`), streaming only (no snapshot). Removed after,
    slot and publication dropped."""
    client = ConnectClient(stack_settings.connect_url)
    made: list[tuple[CaptureSpec, str]] = []

    def make(dept_id: str) -> CaptureSpec:
        dept = get_department(dept_id)
        base = sample_spec(dept, stack_settings, snapshot_mode="no_data")
        spec = CaptureSpec(**{**base.__dict__, "department": unique(f"t{dept_id}")})
        admin_dsn = stack_settings.pg_dsn(dept.database)
        made.append((spec, admin_dsn))
        register_postgres(
            client,
            spec,
            stack_settings,
            admin_dsn=admin_dsn,
            echo=_echo,
            password=stack_settings.pg_cdc_password.get_secret_value(),
        )
        wait_slot_streaming(admin_dsn, spec.slot_name)
        return spec

    yield make
    for spec, admin_dsn in made:
        client.delete(spec.connector_name)
        _wait_slot_inactive(admin_dsn, spec.slot_name)
        drop_slot(admin_dsn, spec.slot_name)
        drop_publication(admin_dsn, spec.publication_name)


def wait_slot_streaming(admin_dsn: str, slot: str, timeout: float = 60.0) -> None:
    """Block until Debezium streams from `slot`: changes committed after this are captured."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is not None and row[0]:
                return
            time.sleep(0.2)
    raise AssertionError(f"replication slot {slot} not active after {timeout}s")


def _wait_slot_inactive(admin_dsn: str, slot: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is None or not row[0]:
                return
            time.sleep(0.2)


@pytest.fixture
def router_factory(
    stack_settings: Settings, unique: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Path], RouterProcess]]:
    """`sharebus worker` processes on a test's own catalog dir, group, catalog topic and web port;
    stopped afterwards (their log is printed when the test fails)."""
    routers: list[RouterProcess] = []

    def make(catalog_dir: Path) -> RouterProcess:
        work = tmp_path_factory.mktemp("router")
        env = {
            **os.environ,
            "SHAREBUS_KAFKA_BOOTSTRAP": stack_settings.kafka_bootstrap,
            "SHAREBUS_CONNECT_URL": stack_settings.connect_url,
            "SHAREBUS_REGISTRY_URL": stack_settings.registry_url,
            "SHAREBUS_CATALOG_DIR": str(catalog_dir),
            "SHAREBUS_CITY": "chongqing",
            "SHAREBUS_ROUTER_ID": unique("router"),
            "SHAREBUS_CATALOG_TOPIC": unique("catalog"),
            "SHAREBUS_WEB_PORT": str(free_port()),
            "SHAREBUS_METRICS_URL": f"chdb://{work / 'metrics'}",
            "SHAREBUS_ROUTER_BATCH_WINDOW": "0.05",
        }
        router = RouterProcess(env, work / "worker.log")
        routers.append(router)
        router.start()
        return router

    yield make
    for router in routers:
        code = router.stop()
        print(f"--- worker log ({router.env['SHAREBUS_ROUTER_ID']}, exit {code}) ---\n{router.log()[-4000:]}")
