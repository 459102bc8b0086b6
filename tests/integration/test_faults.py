"""Routine faults under a steady change stream: Kafka SIGKILLed and restarted 15 s later, Kafka
Connect SIGKILLed and restarted, PostgreSQL (the departments' and the district's) restarted, the
router SIGKILLed mid-batch. The router and the district syncs ride through each (the router's
crash aside, which its supervisor — here the test — restarts); every CLI command asked during the
Kafka outage answers with one clear error; afterwards every district reconciles to zero
differences (nothing lost, nothing foreign, nothing unmasked in what it holds)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.client import ConnectClient
from connectors.render import CaptureSpec
from sharebus.core import naming
from sharebus.core.errors import ExitCode
from sharebus.core.kafka_clients import Role, admin_client, consumer_config, kafka_config, watermarks
from sharebus.core.settings import Settings
from sharebus.testing import faults
from sharebus.testing.waiting import wait_until
from tests.integration.conftest import SyncProcess
from tests.integration.router_harness import RouterProcess
from tests.integration.test_district_random import Driver, Table, TwoDepartments, two_departments
from tests.integration.test_district_sync import settle

pytestmark = pytest.mark.integration

ROWS_IN = ("500101", "500103", "500105", "500112")
SUBSCRIBERS = ("500101", "500103", "civil-affairs")
OUTAGE = 15.0  # seconds Kafka stays down
RATE = 15.0  # changes per second while faults happen
FRESH = 30  # messages: ~1 s of the stream, fanned out to the subscribers
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# What a user runs while the broker is down: each must say so in one clear error, exit 6.
CLI_DURING_OUTAGE = (
    ("ops", "status"),
    ("acl", "show"),
    ("audit", "show"),
    ("catalog", "publish"),
    ("subscriber", "add", "500116"),
)


class Stream:
    """The driver's changes, paced, in a thread; a database restart is waited out (reconnect)."""

    def __init__(self, driver: Driver, dsns: dict[str, str]) -> None:
        self.driver, self.dsns = driver, dsns
        self.changes = self.retries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.wait(1 / RATE):
            try:
                self.driver.change()
                self.changes += 1
            except psycopg.OperationalError:
                self.retries += 1
                self._stop.wait(1.0)
                self._reconnect()

    def _reconnect(self) -> None:
        for table in self.driver.tables:
            try:
                table.conn = psycopg.connect(self.dsns[table.name], autocommit=True)
            except psycopg.OperationalError:
                return


def change_stream(settings: Settings, scene: TwoDepartments) -> tuple[Stream, list[Table]]:
    """The scene's tables under a paced stream of random changes (not started), and the tables."""
    dsns = {
        "enterprise": settings.pg_dsn(scene.market.db_name),
        "certificate": settings.pg_dsn(scene.realestate.db_name),
    }
    tables = scene.tables(
        psycopg.connect(dsns["enterprise"], autocommit=True),
        psycopg.connect(dsns["certificate"], autocommit=True),
    )
    return Stream(Driver(scene.rng, scene.factory, tables), dsns), tables


def delivered(settings: Settings, departments: list[str]) -> int:
    """Messages on the test's subscriber topics (sum of end offsets)."""
    admin = admin_client(kafka_config(settings))
    topics = admin.list_topics(timeout=10).topics
    consumer = Consumer(consumer_config(settings, Role.ADMIN, {"group.id": "faults-probe"}))
    try:
        total = 0
        for name, meta in topics.items():
            parsed = naming.parse_share_topic(name)
            if parsed is not None and parsed[1] in departments:
                for p in meta.partitions:
                    total += watermarks(consumer, TopicPartition(name, p), timeout=30)[
                        1
                    ]  # leaders may lag a restart
        return total
    finally:
        consumer.close()


def pipeline(
    settings: Settings, scene: TwoDepartments, client: ConnectClient, router: RouterProcess
) -> dict[str, object]:
    """Where a stalled stream stands, stage by stage (for the failure message): the router's
    state (its last errors when it exited), the changes captured (raw topics' end offsets), the
    router's committed offsets on them, what was delivered, and the connectors' states."""
    state: dict[str, object] = {"router": "running" if router.alive() else f"exited {router.exit_code()}"}
    if not router.alive():
        errors = [line for line in router.log().splitlines() if "ERROR" in line or "CRITICAL" in line]
        state["router errors"] = [line[:300] for line in errors[-3:]]
    try:
        raws = [scene.market.raw_topic, scene.realestate.raw_topic]
        consumer = Consumer(consumer_config(settings, Role.ADMIN, {"group.id": settings.router_id}))
        try:
            parts = [TopicPartition(t, p) for t in raws for p in range(partitions(settings, t))]
            captured = sum(watermarks(consumer, tp, timeout=10)[1] for tp in parts)
            routed = sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
        finally:
            consumer.close()
        states = {}
        for spec in (scene.market, scene.realestate):
            st = client.status(spec.connector_name)
            states[spec.connector_name] = (
                "missing"
                if st is None
                else f"{st.state} tasks {[t.state for t in st.tasks]} {st.error_summary() or ''}"
            )
        return {
            **state,
            "captured": captured,
            "routed (committed)": routed,
            "delivered": delivered(settings, scene.departments),
            "connectors": states,
        }
    except Exception as exc:  # a diagnostic: whatever it met is part of the picture
        return {**state, "pipeline state unknown": repr(exc)}


def partitions(settings: Settings, topic: str) -> int:
    """How many partitions `topic` has."""
    meta = admin_client(kafka_config(settings)).list_topics(topic, timeout=10).topics[topic]
    return len(meta.partitions)


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sharebus", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_bus_rides_through_kafka_connect_database_and_router_faults(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    sync_factory: Callable[..., SyncProcess],
    district_db: dict[str, str],
) -> None:
    scene = two_departments(stack_settings, source_db_factory, catalog_factory)
    market, realestate, resources, departments = (
        scene.market,
        scene.realestate,
        scene.resources,
        scene.departments,
    )
    router = router_factory(scene.catalog)
    settings, url = router.settings, district_db["url"]
    only = [arg for r in resources for arg in ("--resource", r)]
    syncs = {s: sync_factory(router, s, url, *only) for s in SUBSCRIBERS}
    stream, tables = change_stream(stack_settings, scene)
    stream.start()
    report: list[str] = []
    client = ConnectClient.of(stack_settings)

    def alive() -> None:
        dead = [f"sync {s}" for s, p in syncs.items() if not p.alive()]
        dead += [] if router.alive() else ["router"]
        assert not dead, f"died: {dead}"

    def flowing(base: int, what: str) -> float:
        """When fresh deliveries arrive: more than what was in flight when the fault hit (a batch
        produced before it may be acknowledged the moment the broker is back) — FRESH messages
        past the count at `base` or at this call, whichever is higher."""
        since = max(base, delivered(settings, departments)) + FRESH
        wait_until(
            lambda: delivered(settings, departments) > since,
            120,
            f"deliveries after {what} (more than {since})",
            last=lambda: pipeline(settings, scene, client, router),
        )
        return time.monotonic()

    wait_until(lambda: delivered(settings, departments) > 0, 60, "the first deliveries")
    time.sleep(3)

    # 1. Kafka: SIGKILL, 15 s down (CLI commands asked meanwhile), restarted.
    base = delivered(settings, departments)
    killed = faults.kill(stack_settings, "kafka")
    asked = {args: cli(dict(router.env), *args) for args in CLI_DURING_OUTAGE}
    answers = {args: (p.wait(90), *p.communicate()) for args, p in asked.items()}
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - killed)))
    back = faults.start(stack_settings, "kafka")
    resumed = flowing(base, "Kafka came back")
    report.append(
        f"Kafka down {back - killed:.1f}s; deliveries flowing {resumed - back:.1f}s after it was back"
    )
    for args, (code, out, err) in answers.items():
        command = "sharebus " + " ".join(args)
        assert "Traceback" not in out + err, f"{command} printed a traceback:\n{err}"
        assert code == ExitCode.UNREACHABLE, f"{command} exited {code}:\n{err}{out}"
        assert "Kafka" in err and "fix:" in err, f"{command} did not name Kafka and the fix:\n{err}"
    alive()

    # 2. Kafka Connect: SIGKILL, restarted; the connectors run again and capture resumes.
    base = delivered(settings, departments)
    killed = faults.kill(stack_settings, "connect")
    time.sleep(5)
    back = faults.start(stack_settings, "connect")
    for spec in (market, realestate):
        wait_until(
            lambda s=spec: (st := client.status(s.connector_name)) is not None and st.running,
            120,
            f"{spec.connector_name} RUNNING again",
        )
    resumed = flowing(base, "Connect came back")
    report.append(
        f"Connect down {back - killed:.1f}s; deliveries flowing {resumed - back:.1f}s after it was back"
    )
    alive()

    # 3. PostgreSQL (departments and district alike) restarted: Debezium and the syncs wait it out.
    base = delivered(settings, departments)
    stopped = faults.stop(stack_settings, "postgres")
    back = faults.start(stack_settings, "postgres")
    resumed = flowing(base, "PostgreSQL came back")
    report.append(
        f"PostgreSQL down {back - stopped:.1f}s; deliveries flowing {resumed - back:.1f}s after it was back"
    )
    alive()

    # 4. The router SIGKILLed mid-batch and started again (as its supervisor would).
    base = delivered(settings, departments)
    router.kill()
    killed = time.monotonic()
    router.start()
    resumed = flowing(base, "the router restarted")
    report.append(f"router restarted; deliveries flowing {resumed - killed:.1f}s after the kill")

    stream.stop()
    line = f"{stream.changes} changes ({stream.retries} waits for the database); " + "; ".join(report)
    print(line)
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "faults.log").open("a") as out:  # resume times across runs (`make soak`)
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    alive()
    reports = settle(settings, SUBSCRIBERS, url, resources=resources, sync=False, timeout=120)
    for rep in reports.values():
        assert rep.differences == 0, rep.to_dict()
    assert sum(r.district for rep in reports.values() for r in rep.resources) > 50
    for table in tables:
        table.conn.close()
