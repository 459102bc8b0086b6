"""A broker of a 3-node cluster SIGKILLed under a change stream (`make test-cluster`: the session's
stack runs SHAREBUS_KAFKA_BROKERS=3, every topic 3 replicas, min.insync.replicas 2, acks=all):
routing goes on without a restart while the broker is gone, it rejoins, and every district
reconciles to zero differences."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from connectors.render import CaptureSpec
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.stack.kafka import node_name
from sharebus.testing import faults
from sharebus.testing.waiting import wait_until
from tests.integration.conftest import SyncProcess
from tests.integration.router_harness import RouterProcess
from tests.integration.test_district_random import two_departments
from tests.integration.test_district_sync import settle
from tests.integration.test_faults import ARTIFACTS, FRESH, SUBSCRIBERS, change_stream, delivered

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

GONE = 20.0  # seconds the broker stays down while changes flow


def counted(settings: Settings, departments: list[str]) -> int | None:
    """`delivered`, or None while partitions still name the gone broker as leader (until the
    controller fences it: up to broker.session.timeout.ms) — this probe's own wait, not the bus's."""
    try:
        return delivered(settings, departments)
    except KafkaException:
        return None


def more_than(settings: Settings, departments: list[str], floor: int) -> bool:
    now = counted(settings, departments)
    return now is not None and now > floor


def leader_of(settings: Settings, topic: str) -> int:
    """The broker id leading partition 0 of `topic`."""
    meta = admin_client(kafka_config(settings)).list_topics(topic, timeout=10).topics[topic]
    return int(meta.partitions[0].leader)


def test_losing_a_broker_stops_nothing_and_loses_nothing(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    sync_factory: Callable[..., SyncProcess],
    district_db: dict[str, str],
) -> None:
    assert stack_settings.kafka_brokers == 3 and stack_settings.replication_factor == 3, (
        "the broker-loss test needs the 3-broker stack: run `make test-cluster`"
    )
    scene = two_departments(stack_settings, source_db_factory, catalog_factory)
    router = router_factory(scene.catalog)
    settings, url = router.settings, district_db["url"]
    only = [arg for r in scene.resources for arg in ("--resource", r)]
    syncs = {s: sync_factory(router, s, url, *only) for s in SUBSCRIBERS}
    stream, tables = change_stream(stack_settings, scene)
    stream.start()
    wait_until(lambda: delivered(settings, scene.departments) > 0, 60, "the first deliveries")
    time.sleep(3)

    # The broker leading the market's raw topic goes: the router's reads and writes both move.
    victim = node_name(leader_of(stack_settings, scene.market.raw_topic))
    base = delivered(settings, scene.departments)
    killed = faults.kill(stack_settings, victim)
    wait_until(
        lambda: more_than(settings, scene.departments, base + FRESH), 60, f"deliveries with {victim} gone"
    )
    flowing = time.monotonic() - killed
    time.sleep(max(0.0, GONE - (time.monotonic() - killed)))
    assert router.alive(), "the router stopped when a broker went (it must ride through)"
    assert all(p.alive() for p in syncs.values()), "a district sync stopped when a broker went"
    back = faults.start(stack_settings, victim)  # it rejoins, as after a rolling upgrade
    base = wait_until(lambda: counted(settings, scene.departments), 30, "the delivered count")
    wait_until(
        lambda: more_than(settings, scene.departments, base + FRESH), 60, f"deliveries with {victim} back"
    )

    stream.stop()
    line = (
        f"{stream.changes} changes; {victim} SIGKILLed: deliveries went on {flowing:.1f}s after the kill;"
        f" back after {back - killed:.1f}s"
    )
    print(line)
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "broker-loss.log").open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    assert router.alive() and all(p.alive() for p in syncs.values())
    reports = settle(settings, SUBSCRIBERS, url, resources=scene.resources, sync=False, timeout=120)
    for rep in reports.values():
        assert rep.differences == 0, rep.to_dict()
    assert sum(r.district for rep in reports.values() for r in rep.resources) > 50
    for table in tables:
        table.conn.close()
