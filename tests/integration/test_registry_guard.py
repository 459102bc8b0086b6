"""The registry's guard on the real stack: a login is a Kafka SCRAM login (a subscriber's, rotated
passwords included); a subscriber reads the schemas of the resources its demands in force give it —
with confluent-kafka's SchemaRegistryClient, as a district does — and is refused every other
subject, and every write; anonymous and wrong logins are refused; a demand approved in a newly
published catalog opens its subject at once. (A login is trusted for a minute once checked, as
Kafka's own sessions re-authenticate every minute.)"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from schemas.derive import share_subject
from schemas.registry_client import RegistryClient
from sharebus.apps.acl.broker import Broker
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Resource, Sharing
from sharebus.core.kafka_clients import admin_client, http_login, kafka_config
from sharebus.core.settings import Settings
from streams.router.live_catalog import publish_catalog
from tests.integration.router_harness import set_demands, write_catalog
from tests.integration.test_registry import RegistryServer

pytestmark = pytest.mark.integration

SUBSCRIBER = "500109"


def demand(resource: Resource, ident: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": ident,
        "subscriber": SUBSCRIBER,
        "resource": resource.id,
        "purpose": "test",
        "status": "approved",
        "approver": "test",
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
        "fields": [f.name for f in resource.fields],
    }


@pytest.fixture
def guarded(
    stack_settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> Iterator[tuple[Settings, RegistryServer, str]]:
    """A registry process of this test following its own catalog topic, and the subscriber's
    password (its SCRAM login, deleted afterwards)."""
    settings = stack_settings.model_copy(
        update={"catalog_topic": unique("test.catalog"), "catalog_dir": tmp_path / "catalog"}
    )
    write_catalog(tmp_path / "catalog", {}, [])
    publish_catalog(settings)
    topic = unique("_test_schemas")
    server = RegistryServer(
        settings.kafka_bootstrap,
        topic,
        tmp_path / "registry.log",
        http_login(settings),
        env={"SHAREBUS_CATALOG_TOPIC": settings.catalog_topic},
    )
    password = secrets.token_hex(12)
    broker = Broker(settings)
    broker.set_password(SUBSCRIBER, password)
    try:
        yield settings, server, password
    finally:
        server.stop()
        broker.delete_user(SUBSCRIBER)
        admin = admin_client(kafka_config(settings))
        for future in admin.delete_topics([topic, settings.catalog_topic]).values():
            future.result(timeout=30)


def test_a_subscriber_reads_the_schemas_of_its_demands_only(
    guarded: tuple[Settings, RegistryServer, str],
) -> None:
    settings, server, password = guarded
    catalog = load_catalog(settings.catalog_dir / "chongqing")
    shared = [r for r in catalog.resources if r.sharing is not Sharing.NOT_SHARED]
    mine, other = shared[0], shared[1]
    set_demands(settings.catalog_dir, [demand(mine, "G-1")])
    publish_catalog(settings)
    city = catalog.city.id
    admin = RegistryClient(server.url, auth=server.login, verify=server.verify)
    schema = {
        "type": "record",
        "name": "R",
        "namespace": "sharebus.t",
        "fields": [{"name": "id", "type": "long"}],
    }
    ids = {
        mine.id: admin.register(share_subject(city, mine), schema),
        other.id: admin.register(share_subject(city, other), {**schema, "name": "S"}),
    }

    tls = {"ssl.ca.location": server.verify}
    district = SchemaRegistryClient(
        {"url": server.url, "basic.auth.user.info": f"{SUBSCRIBER}:{password}", **tls}
    )
    assert json.loads(district.get_schema(ids[mine.id]).schema_str)["name"] == "R"
    assert district.get_subjects() == [share_subject(city, mine)]
    with pytest.raises(SchemaRegistryError) as refused:
        district.get_latest_version(share_subject(city, other))
    assert refused.value.http_status_code == 403
    with pytest.raises(SchemaRegistryError) as write:
        district.set_compatibility(share_subject(city, mine), "NONE")
    assert write.value.http_status_code == 403

    for conf in (
        {"url": server.url, **tls},
        {"url": server.url, "basic.auth.user.info": f"{SUBSCRIBER}:wrong", **tls},
    ):
        with pytest.raises(SchemaRegistryError) as login:
            SchemaRegistryClient(conf).get_schema(ids[mine.id])
        assert login.value.http_status_code == 401

    # A demand approved in a newly published catalog: its subject opens at once (no wait).
    set_demands(settings.catalog_dir, [demand(mine, "G-1"), demand(other, "G-2")])
    publish_catalog(settings)
    fresh = SchemaRegistryClient(
        {"url": server.url, "basic.auth.user.info": f"{SUBSCRIBER}:{password}", **tls}
    )
    assert json.loads(fresh.get_schema(ids[other.id]).schema_str)["name"] == "S"
