"""The schema registry on the real stack: reachable where SHAREBUS_REGISTRY_URL says, idempotent
registration, ids kept in Kafka across restarts, one writer at a time, and records encoded by
the schema book read back from Kafka through the registry."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import Consumer, Producer
from fastavro import parse_schema, schemaless_reader

from schemas.encoder import SchemaBook
from schemas.errors import RegistryError
from schemas.keys import parse_share_key, share_key
from schemas.registry_client import RegistryClient
from schemas.wire import split
from sharebus.catalog.load import load_catalog
from sharebus.core.https import verify
from sharebus.core.kafka_clients import admin_client, http_login, kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.stack.manager import LocalStack
from sharebus.testing.ports import free_port
from sharebus.testing.waiting import wait_until
from streams.policy import compile_policy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KEY = b"test-pseudonym-key-32-bytes-long"


def _schema(name: str, *extra: str) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [{"name": "id", "type": "long"}]
    fields += [{"name": f, "type": ["null", "string"], "default": None} for f in extra]
    return {"type": "record", "name": name, "namespace": "sharebus.test", "fields": fields}


class RegistryServer:
    """A registry process of this test, on its own port and topic."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        log: Path,
        login: tuple[str, str] | None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.login = login  # the admin's: a writer
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"  # its certificate: the stack's `registry`
        self.verify = verify(Settings())
        argv = [
            sys.executable,
            "-m",
            "sharebus.apps.registry",
            "--host",
            "127.0.0.1",
            "--prefix",
            "",
            "--port",
            str(self.port),
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
        ]
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

        def serving() -> bool:
            assert self.proc.poll() is None, log.read_text()[-2000:]
            try:
                return requests.get(f"{self.url}/", timeout=1, verify=self.verify).status_code == 200
            except requests.RequestException:
                return False

        wait_until(serving, 60, f"the registry on {self.url}", last=lambda: log.read_text()[-2000:])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture
def own_registry(stack_settings: Settings, tmp_path: Path) -> Iterator[Callable[[], RegistryServer]]:
    """Start registry processes on one fresh schema topic; stopped and the topic deleted after."""
    topic = f"_test_schemas_{uuid.uuid4().hex[:8]}"
    servers: list[RegistryServer] = []

    def start() -> RegistryServer:
        log = tmp_path / f"registry-{len(servers)}.log"
        server = RegistryServer(stack_settings.kafka_bootstrap, topic, log, http_login(stack_settings))
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.stop()
    admin = admin_client(kafka_config(stack_settings))  # kept alive until the future resolves
    admin.delete_topics([topic])[topic].result(timeout=30)


def test_stack_runs_the_registry_at_the_configured_url(stack_settings: Settings) -> None:
    status = LocalStack(stack_settings).component("registry").status()
    assert status.healthy, status.detail
    assert status.endpoint == stack_settings.registry_url.rstrip("/")
    login = http_login(stack_settings)
    ca = verify(stack_settings)
    assert requests.get(f"{stack_settings.registry_url}/config", auth=login, timeout=5, verify=ca).json() == {
        "compatibilityLevel": "BACKWARD"
    }


def test_registration_on_the_stack_is_idempotent(
    stack_settings: Settings, unique: Callable[[str], str]
) -> None:
    subject = f"{unique('test.registry')}-value"
    first = RegistryClient.for_settings(stack_settings).register(subject, _schema("A"))
    again = RegistryClient.for_settings(stack_settings).register(subject, _schema("A"))
    assert again == first
    client = RegistryClient.for_settings(stack_settings)
    assert client.versions(subject) == [1]
    assert json.loads(client.schema(first)) == _schema("A")


def test_ids_survive_a_registry_restart(own_registry: Callable[[], RegistryServer]) -> None:
    server = own_registry()
    client = RegistryClient(server.url, auth=server.login, verify=server.verify)
    ids = {name: client.register(f"{name}-value", _schema(name)) for name in ("A", "B", "C")}
    evolved = client.register("A-value", _schema("A", "extra"))
    server.stop()

    restarted = own_registry()
    again = RegistryClient(restarted.url, auth=restarted.login, verify=restarted.verify)
    assert {name: again.register(f"{name}-value", _schema(name)) for name in ids} == ids
    assert again.versions("A-value") == [1, 2]
    assert again.version("A-value", "latest").id == evolved
    assert again.register("D-value", _schema("D")) == max([*ids.values(), evolved]) + 1  # never reused


def test_a_newer_registry_fences_the_older_writer(own_registry: Callable[[], RegistryServer]) -> None:
    older = own_registry()
    RegistryClient(older.url, auth=older.login, verify=older.verify).register("A-value", _schema("A"))
    newer = own_registry()
    schema_id = RegistryClient(newer.url, auth=newer.login, verify=newer.verify).register(
        "B-value", _schema("B")
    )
    with pytest.raises(RegistryError) as info:
        RegistryClient(older.url, auth=older.login, verify=older.verify).register("C-value", _schema("C"))
    assert info.value.error_code == 50301
    # The older one still tails the log: it serves what the newer one wrote.
    wait_until(
        lambda: (
            requests.get(
                f"{older.url}/schemas/ids/{schema_id}", auth=older.login, timeout=5, verify=older.verify
            ).status_code
            == 200
        ),
        10,
        "the older registry to read the newer one's write",
    )


def test_records_read_back_from_kafka_through_the_registry(
    stack_settings: Settings,
    topic_factory: Callable[..., str],
    consumer_factory: Callable[..., Consumer],
    unique: Callable[[str], str],
) -> None:
    policy = compile_policy(load_catalog(REPO / "catalog" / "chongqing"), pseudonym_key=KEY)
    book = SchemaBook(RegistryClient.for_settings(stack_settings), policy)
    ent = book.entitlement("500101", "market.enterprise", datetime(2026, 1, 1, tzinfo=UTC))
    row: dict[str, Any] = {f: None for f in ent.fields}
    row |= {"uscc": "91500101MA5U7X8Y9Z", "name": "某某公司", "updated_at": "2024-03-01T08:15:30Z"}
    topic = topic_factory(unique("test.avro"), config={"cleanup.policy": "compact"})
    producer = Producer(kafka_config(stack_settings))
    producer.produce(
        topic,
        book.encoder_for("500101", "market.enterprise", ent.demand_id).encode(row),
        share_key("market.enterprise", {"uscc": row["uscc"]}),
    )
    assert producer.flush(10) == 0
    consumer = consumer_factory()
    consumer.subscribe([topic])
    msg = wait_until(lambda: consumer.poll(1.0), 30, f"a record on {topic}", interval=0)
    assert msg.error() is None
    raw_key, raw_value = msg.key(), msg.value()
    assert raw_key is not None and raw_value is not None
    assert parse_share_key(raw_key) == ("market.enterprise", {"uscc": row["uscc"]})
    schema_id, body = split(raw_value)
    url = f"{stack_settings.registry_url}/schemas/ids/{schema_id}"
    schema = requests.get(
        url, auth=http_login(stack_settings), timeout=5, verify=verify(stack_settings)
    ).json()
    decoded = schemaless_reader(io.BytesIO(body), parse_schema(json.loads(schema["schema"])))
    assert isinstance(decoded, dict)
    assert decoded["name"] == "某某公司"
    assert decoded["updated_at"] == datetime(2024, 3, 1, 8, 15, 30, tzinfo=UTC)
