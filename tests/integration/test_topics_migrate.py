"""`sharebus topics migrate` on the real stack: a per-resource topic's live rows move into the
subscriber's department topic (resource keys, record-name subjects), newer rows the router already
wrote stay, deleted rows are not carried, the old topic is deleted and the move audited; a capture
connector of the per-table layout moves to its department's raw topic under a running router."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from psycopg import sql

from connectors.client import ConnectClient
from connectors.render import CaptureSpec
from schemas.derive import value_schema
from schemas.encoder import Encoder
from schemas.keys import key_bytes, share_key
from schemas.registry_client import RegistryClient
from sharebus.catalog.load import load_catalog
from sharebus.core import naming
from sharebus.core.audit import TOPICS_MIGRATE, read_audit
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.kafka import wait_for_records
from sharebus.testing.waiting import WaitTimeout
from tests.integration.router_harness import (
    SAMPLE_CATALOG,
    RouterProcess,
    keys_of,
    read_share,
    read_topic,
    write_catalog,
)

pytestmark = pytest.mark.integration


def test_per_resource_topics_move_into_department_topics(
    stack_settings: Settings,
    topic_factory: Callable[..., str],
    sharebus_cli: Callable[..., Any],
) -> None:
    chongqing_catalog = load_catalog(SAMPLE_CATALOG)
    started = datetime.now(UTC) - timedelta(seconds=5)
    token = uuid.uuid4().hex[:8]
    subscriber, department = f"mig-{token}", f"m{token}"
    legacy = topic_factory(
        f"share.{subscriber}.{department}.enterprise", config={"cleanup.policy": "compact"}
    )
    target = naming.share_topic(subscriber, department)
    resource = chongqing_catalog.resource("market.enterprise")
    assert resource is not None
    renamed = resource.model_copy(update={"id": f"{department}.enterprise", "department": department})
    schema = value_schema("chongqing", renamed, ("uscc", "name"))
    registry = RegistryClient.for_settings(stack_settings)
    old = Encoder(
        legacy, naming.value_subject(legacy), registry.register(naming.value_subject(legacy), schema), schema
    )

    producer = Producer(kafka_config(stack_settings))
    for uscc, name in (("U1", "一"), ("U2", "二"), ("U3", "三")):
        producer.produce(legacy, old.encode({"uscc": uscc, "name": name}), key_bytes({"uscc": uscc}))
    producer.produce(legacy, None, key_bytes({"uscc": "U3"}))  # deleted at the source
    topic_factory(target, config={"cleanup.policy": "compact"})
    newer = old.encode({"uscc": "U2", "name": "新"})
    producer.produce(target, newer, share_key(renamed.id, {"uscc": "U2"}))  # the router was first
    assert producer.flush(10) == 0

    dry = sharebus_cli("topics", "migrate", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert {"from": legacy, "to": target} in [
        {k: m[k] for k in ("from", "to")} for m in json.loads(dry.stdout)["moves"]
    ]

    result = sharebus_cli("topics", "migrate", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    (move,) = [m for m in report["moves"] if m["from"] == legacy]
    assert (move["copied"], move["skipped_newer"], move["deleted_rows"]) == (1, 1, 1)
    assert legacy in report["deleted_topics"]
    assert legacy not in admin_client(kafka_config(stack_settings)).list_topics(timeout=10).topics

    reads = read_topic(stack_settings, target, until=lambda rs: len(rs) >= 2)
    latest = {r.key["uscc"]: r for r in reads if r.resource == renamed.id}
    assert latest["U1"].value["name"] == "一"  # read as districts do: AvroDeserializer + registry
    assert latest["U1"].headers[naming.H_SHARE_RESOURCE] == renamed.id.encode()
    assert latest["U2"].value["name"] == "新"  # the router's newer row is kept
    assert "U3" not in latest
    subject = naming.record_subject(f"sharebus.chongqing.{department}.Enterprise")
    assert subject in registry.subjects()

    again = sharebus_cli("topics", "migrate", "--json")  # idempotent: nothing left to move
    assert again.exit_code == 0 and legacy not in [m["from"] for m in json.loads(again.stdout)["moves"]]
    audited = [e for e in read_audit(stack_settings, since=started) if e["action"] == TOPICS_MIGRATE]
    assert any(e["target"] == legacy and e["subject"] == subscriber and e["count"] == 1 for e in audited)


def test_a_connector_of_the_per_table_layout_moves_to_its_raw_topic_losing_no_change(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    sharebus_cli: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """A connector registered before the topic router writes a topic per table; the router reads
    it; `topics migrate` pauses the connector, waits until the router routed that topic to its
    end, switches the connector to `cdc.<department>`, resumes it and deletes the table topic —
    under a running router, with every change before, during and after arriving."""
    market = capture_factory("market")
    connect = ConnectClient.of(stack_settings)
    config = connect.config(market.connector_name) or {}
    connect.put_config(
        market.connector_name, {k: v for k, v in config.items() if not k.startswith("transforms")}
    )
    connect.wait_running(market.connector_name)
    table_topic = naming.raw_table_topic(market.topic_prefix, "public.enterprise")
    rows = RowFactory.for_settings(stack_settings, seed=time.time_ns() % 1_000_000)
    inserted: set[str] = set()

    def insert(n: int) -> None:
        with psycopg.connect(stack_settings.pg_dsn("dept_market"), autocommit=True) as conn:
            for _ in range(n):
                row = rows.enterprise()
                row["district_code"] = "500101"
                conn.execute(
                    sql.SQL("INSERT INTO public.enterprise ({}) VALUES ({})").format(
                        sql.SQL(", ").join(map(sql.Identifier, row)),
                        sql.SQL(", ").join(sql.Placeholder() * len(row)),
                    ),
                    list(row.values()),
                )
                inserted.add(row["uscc"])

    for _ in range(30):  # the task takes the old config on its restart: until then, rows go to the raw topic
        insert(1)
        try:
            wait_for_records(stack_settings, table_topic, 1, timeout=2)
            break
        except WaitTimeout:
            continue
    insert(20)
    wait_for_records(stack_settings, table_topic, 20)  # the old layout: a topic for the table
    router = router_factory(write_catalog(tmp_path / "catalog", {"market": market.department}))
    insert(20)
    env = {k: router.env[k] for k in ("SHAREBUS_ROUTER_ID", "SHAREBUS_CATALOG_TOPIC", "SHAREBUS_CATALOG_DIR")}

    result = sharebus_cli("topics", "migrate", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    (move,) = [
        m for m in json.loads(result.stdout)["capture"]["moves"] if m["connector"] == market.connector_name
    ]
    assert move["switched"] and move["to"] == market.raw_topic and move["table_topics"] == [table_topic]
    assert move["records_routed"] >= 40
    assert table_topic not in admin_client(kafka_config(stack_settings)).list_topics(timeout=10).topics
    switched = connect.config(market.connector_name) or {}
    assert switched["transforms.department.topic.replacement"] == market.raw_topic

    insert(20)  # now on the department's raw topic, read by the same router without a restart
    reads = read_share(
        stack_settings,
        "500101",
        f"{market.department}.enterprise",
        until=lambda rs: keys_of(rs, "uscc") >= inserted,
        timeout=60,
    )
    assert keys_of(reads, "uscc") >= inserted and len(inserted) >= 60
    assert router.alive()

    again = sharebus_cli("topics", "migrate", "--json", env=env)  # idempotent
    assert again.exit_code == 0, again.stderr
    assert market.connector_name not in [m["connector"] for m in json.loads(again.stdout)["capture"]["moves"]]
