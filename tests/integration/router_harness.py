"""Test harness for the router on the real stack: per-test catalogs and worker processes, and
readers of subscriber topics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, Message, TopicPartition

from schemas.keys import parse_share_key
from sharebus.apps.acl.grants import router_grants
from sharebus.apps.acl.sync import grant
from sharebus.apps.worker_process import WorkerProcess
from sharebus.catalog.rename import rename_departments
from sharebus.core import naming
from sharebus.core.kafka_clients import admin_client, http_login, kafka_config, watermarks
from sharebus.core.settings import Settings
from sharebus.testing.kafka import read_until
from sharebus.testing.ports import free_port
from streams.router.live_catalog import publish_catalog

SAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"


def write_catalog(
    root: Path, departments: dict[str, str], demands: list[dict[str, Any]] | None = None
) -> Path:
    """A copy of the Chongqing sample catalog under `root/chongqing`, department ids renamed per
    `departments` (old → new) so sources and topics are the test's own; every other department is
    renamed to an unused id too (its raw topic stays empty), so data captured by the sample bus
    never reaches the test's router. `demands` replaces the demand list when given. Returns the
    catalog dir (SHAREBUS_CATALOG_DIR)."""
    sample = yaml.safe_load((SAMPLE_CATALOG / "catalog.yaml").read_text())
    token = uuid.uuid4().hex[:6]
    mapping = {d["id"]: f"x{token}_{d['id']}"[:40] for d in sample["departments"]}
    rename_departments(SAMPLE_CATALOG, root / "chongqing", {**mapping, **departments})
    if demands is not None:
        set_demands(root, demands)
    return root


def worker_env(
    settings: Settings, catalog_dir: Path, work: Path, unique: Callable[[str], str]
) -> dict[str, str]:
    """The environment of a test's own worker: its catalog dir, consumer group, catalog topic,
    metrics store and web port, on the test stack. The router principal is granted what that
    router id and catalog topic need (as `sharebus acl sync` does for the deployment's)."""
    env = {
        **os.environ,
        "SHAREBUS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SHAREBUS_CONNECT_URL": settings.connect_url,
        "SHAREBUS_REGISTRY_URL": settings.registry_url,
        "SHAREBUS_CATALOG_DIR": str(catalog_dir),
        "SHAREBUS_CITY": "chongqing",
        "SHAREBUS_ROUTER_ID": unique("router"),
        "SHAREBUS_CATALOG_TOPIC": unique("catalog"),
        "SHAREBUS_WEB_HOST": "127.0.0.1",
        "SHAREBUS_WEB_PORT": str(free_port()),
        "SHAREBUS_METRICS_URL": f"chdb://{work / 'metrics'}",
        "SHAREBUS_ROUTER_BATCH_WINDOW": "0.05",
    }
    own = settings.model_copy(
        update={"router_id": env["SHAREBUS_ROUTER_ID"], "catalog_topic": env["SHAREBUS_CATALOG_TOPIC"]}
    )
    grant(own, router_grants(own))
    publish_catalog(
        own.model_copy(update={"catalog_dir": catalog_dir, "city": "chongqing"})
    )  # the admin; workers never do
    return env


def set_demands(root: Path, demands: list[dict[str, Any]]) -> None:
    """Replace the demand list (JSON is YAML)."""
    (root / "chongqing" / "demands.yaml").write_text(
        json.dumps({"format": 1, "demands": demands}, ensure_ascii=False)
    )


RouterProcess = WorkerProcess


def cli_json(router: RouterProcess, *args: str) -> dict[str, Any]:
    """`sharebus <args> --json` in the worker's environment: exit 0, no traceback, its JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "sharebus", *args, "--json"],
        env=router.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@dataclass
class Read:
    key: Any  # a subscriber topic's: the primary key (its resource in `resource`)
    value: Any
    headers: dict[str, bytes] = field(default_factory=dict)
    resource: str | None = None


def read_share(
    settings: Settings,
    subscriber: str,
    resource: str,
    *,
    until: Callable[[list[Read]], bool],
    timeout: float = 30.0,
) -> list[Read]:
    """`subscriber`'s records of `resource`: its department's topic, read as districts do and
    kept to the resource's keys."""
    topic = naming.share_topic(subscriber, resource.split(".", 1)[0])
    return read_topic(settings, topic, until=until, timeout=timeout, resource=resource)


def read_topic(
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[Read]], bool],
    decode: Callable[[bytes], Any] | None = None,
    timeout: float = 30.0,
    resource: str | None = None,
) -> list[Read]:
    """Read `topic` from the beginning until `until(reads)` holds (or fail after `timeout`).
    Subscriber topics are decoded as districts do (confluent-kafka's AvroDeserializer with the
    registry; keys split into resource and primary key), other topics' values stay bytes unless
    `decode` says otherwise. With `resource`, only that resource's records count."""
    share = naming.parse_share_topic(topic) is not None
    if decode is None:
        decode = avro_decoder(settings, topic) if share else (lambda b: b)
    consumer = Consumer(
        {
            **kafka_config(settings),
            "group.id": "test-reader",
            "enable.auto.commit": False,
        }
    )
    values = decode

    def read(msg: Message) -> Read:
        value, key = msg.value(), msg.key()
        of, pk = parse_share_key(key) if share and key is not None else (None, json.loads(key or b"null"))
        return Read(pk, values(value) if value is not None else None, dict(msg.headers() or []), of)

    def wanted(reads: list[Read]) -> bool:
        return until(reads if resource is None else [r for r in reads if r.resource == resource])

    try:
        reads = read_until(consumer, settings, topic, decode=read, until=wanted, timeout=timeout)
        return reads if resource is None else [r for r in reads if r.resource == resource]
    finally:
        consumer.close()


def avro_decoder(settings: Settings, topic: str) -> Callable[[bytes], Any]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    login = http_login(settings)
    conf = {"url": settings.registry_url, "ssl.ca.location": str(settings.tls_ca)}
    conf |= {"basic.auth.user.info": ":".join(login)} if login else {}
    deserialize = AvroDeserializer(SchemaRegistryClient(conf))
    context = SerializationContext(topic, MessageField.VALUE)
    return lambda data: deserialize(data, context)


def topic_sizes(settings: Settings, prefix: str) -> dict[str, int]:
    """End offsets (message counts) of every topic whose name starts with `prefix`."""
    admin = admin_client(kafka_config(settings))
    consumer = Consumer({**kafka_config(settings), "group.id": "test-sizes"})
    try:
        sizes = {}
        for name, meta in admin.list_topics(timeout=10).topics.items():
            if name.startswith(prefix):
                sizes[name] = sum(
                    watermarks(consumer, TopicPartition(name, p), timeout=10)[1] for p in meta.partitions
                )
        return sizes
    finally:
        consumer.close()


def keys_of(reads: Iterable[Read], field_name: str) -> set[Any]:
    return {r.key[field_name] for r in reads if isinstance(r.key, dict)}
