"""`sharebus topics migrate` on the real stack: a per-resource topic's live rows move into the
subscriber's department topic (resource keys, record-name subjects), newer rows the router already
wrote stay, deleted rows are not carried, the old topic is deleted and the move audited."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer

from schemas.derive import value_schema
from schemas.encoder import Encoder
from schemas.keys import key_bytes, share_key
from schemas.registry_client import RegistryClient
from sharebus.catalog.load import load_catalog
from sharebus.core import naming
from sharebus.core.audit import TOPICS_MIGRATE, read_audit
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings
from tests.integration.router_harness import SAMPLE_CATALOG, read_topic

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
    registry = RegistryClient(stack_settings.registry_url)
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
