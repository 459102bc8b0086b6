"""The registry on the Confluent REST API (in memory here; Kafka-backed in the integration
tests): registration, read endpoints, compatibility, config, errors; and its client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from schemas.compat import backward_problems, parse
from schemas.errors import RegistryError, RegistryUnreachableError, SchemaIncompatibleError
from schemas.registry_client import RegistryClient
from schemas.registry_server import BackgroundServer, memory_registry
from schemas.registry_state import RegistryState, schema_record, version_record

V1: dict[str, Any] = {
    "type": "record",
    "name": "Thing",
    "namespace": "sharebus.c.dept",
    "fields": [{"name": "id", "type": "long"}],
}
ADDED = {"name": "s", "type": ["null", "string"], "default": None}
V2: dict[str, Any] = {**V1, "fields": [*V1["fields"], ADDED]}
BAD: dict[str, Any] = {**V1, "fields": [{"name": "id", "type": "string"}]}


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    running = BackgroundServer(memory_registry())
    yield running
    running.stop()


@pytest.fixture
def client(server: BackgroundServer) -> RegistryClient:
    return RegistryClient(server.url)


def _post(url: str, body: Any) -> requests.Response:
    return requests.post(url, data=json.dumps(body), timeout=5)


def test_register_is_idempotent_and_ids_are_global(server: BackgroundServer, client: RegistryClient) -> None:
    first = client.register("t1-value", V1)
    assert client.register("t1-value", json.dumps(V1, indent=4)) == first  # whitespace is no change
    fresh = RegistryClient(server.url)  # no client cache: the server answers the same id
    assert fresh.register("t1-value", V1) == first
    assert fresh.register("t2-value", V1) == first  # same schema in another subject, same id
    assert client.versions("t1-value") == [1]
    second = client.register("t1-value", V2)
    assert second != first and client.versions("t1-value") == [1, 2]
    assert client.register("t1-value", V1) == first  # an older version is found, not re-added
    assert client.versions("t1-value") == [1, 2]


def test_read_endpoints(server: BackgroundServer, client: RegistryClient) -> None:
    one = client.register("a-value", V1)
    two = client.register("a-value", V2)
    client.register("b-value", V2)
    assert json.loads(client.schema(two)) == V2
    assert client.subjects() == ["a-value", "b-value"]
    assert client.version("a-value", "latest") == (("a-value", 2, two, client.schema(two)))
    assert client.version("a-value", 1).id == one
    body = requests.get(f"{server.url}/subjects/a-value/versions/-1", timeout=5).json()
    assert body["version"] == 2 and body["id"] == two and json.loads(body["schema"]) == V2
    usage = requests.get(f"{server.url}/schemas/ids/{two}/versions", timeout=5).json()
    assert usage == [{"subject": "a-value", "version": 2}, {"subject": "b-value", "version": 1}]
    subjects = requests.get(f"{server.url}/schemas/ids/{two}/subjects", timeout=5).json()
    assert subjects == ["a-value", "b-value"]
    raw = requests.get(f"{server.url}/subjects/a-value/versions/1/schema", timeout=5).json()
    assert raw == V1
    assert requests.get(f"{server.url}/schemas/types", timeout=5).json() == ["AVRO"]
    found = client.lookup("a-value", V1)
    assert found is not None and (found.version, found.id) == (1, one)
    assert client.lookup("a-value", BAD) is None
    assert client.lookup("nope-value", V1) is None


def test_not_found_answers_carry_confluent_error_codes(server: BackgroundServer) -> None:
    expected = {
        "/schemas/ids/99": (404, 40403),
        "/subjects/nope/versions": (404, 40401),
        "/subjects/nope/versions/latest": (404, 40401),
    }
    requests.post(f"{server.url}/subjects/a/versions", data=json.dumps({"schema": json.dumps(V1)}), timeout=5)
    expected["/subjects/a/versions/7"] = (404, 40402)
    for path, (status, code) in expected.items():
        resp = requests.get(f"{server.url}{path}", timeout=5)
        assert (resp.status_code, resp.json()["error_code"]) == (status, code), path


def test_invalid_schemas_are_refused(server: BackgroundServer) -> None:
    for body in (
        {"schema": "{not json"},
        {"schema": json.dumps({"type": "record"})},
        {"nope": 1},
        {"schema": '"string"', "schemaType": "PROTOBUF"},
    ):
        resp = _post(f"{server.url}/subjects/x-value/versions", body)
        assert resp.status_code == 422 and resp.json()["error_code"] == 42201, body


def test_backward_compatibility_is_enforced(server: BackgroundServer, client: RegistryClient) -> None:
    client.register("c-value", V1)
    assert client.is_compatible("c-value", V2) is True
    assert client.is_compatible("c-value", BAD) is False
    verbose = _post(
        f"{server.url}/compatibility/subjects/c-value/versions/latest?verbose=true",
        {"schema": json.dumps(BAD)},
    ).json()
    assert verbose["is_compatible"] is False and "cannot be read as string" in verbose["messages"][0]
    with pytest.raises(SchemaIncompatibleError, match="c-value"):
        client.register("c-value", BAD)
    assert client.versions("c-value") == [1]


def test_config_defaults_to_backward_and_can_be_set(server: BackgroundServer, client: RegistryClient) -> None:
    assert client.compatibility_level() == "BACKWARD"
    level = requests.get(f"{server.url}/config/any-subject", timeout=5).json()
    assert level == {"compatibilityLevel": "BACKWARD"}
    resp = requests.put(f"{server.url}/config/d-value", data=json.dumps({"compatibility": "none"}), timeout=5)
    assert resp.json() == {"compatibility": "NONE"}
    client.register("d-value", V1)
    client.register("d-value", BAD)  # NONE: no check
    assert client.versions("d-value") == [1, 2]
    bad = requests.put(f"{server.url}/config", data=json.dumps({"compatibility": "LOOSE"}), timeout=5)
    assert bad.status_code == 422


def test_prefix_serves_the_api_under_a_path() -> None:
    running = BackgroundServer(memory_registry(), prefix="/apis/ccompat/v7")
    try:
        assert running.url.endswith("/apis/ccompat/v7")
        assert RegistryClient(running.url).register("p-value", V1) == 1
    finally:
        running.stop()


def test_unreachable_registry_names_the_url_and_the_fix() -> None:
    with pytest.raises(RegistryUnreachableError) as info:
        RegistryClient("http://127.0.0.1:9", timeout=1).subjects()
    assert "http://127.0.0.1:9" in str(info.value) and "SHAREBUS_REGISTRY_URL" in str(info.value)


def test_unknown_id_is_a_registry_error(client: RegistryClient) -> None:
    with pytest.raises(RegistryError) as info:
        client.schema(12345)
    assert info.value.error_code == 40403


def test_state_rebuilds_from_its_records_in_order() -> None:
    state = RegistryState()
    for record in (
        schema_record(1, '"long"'),
        version_record("s", 1, 1),
        version_record("s", 1, 1),
        schema_record(2, '"string"'),
        version_record("s", 2, 2),
    ):
        state.apply(record)  # a replayed record changes nothing
    assert state.versions("s") == [1, 2] and state.version("s", "latest") == (2, 2)
    assert state.ids == {'"long"': 1, '"string"': 2}


# --- Avro resolution rules ----------------------------------------------------------------------------
def _enum(*symbols: str) -> dict[str, Any]:
    return {"type": "enum", "name": "E", "symbols": list(symbols)}


def _rec(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "R", "fields": list(fields)}


@pytest.mark.parametrize(
    ("new", "old", "ok"),
    [
        ("long", "int", True),  # promotion
        ("int", "long", False),
        ("double", "float", True),
        ("bytes", "string", True),
        (["null", "string"], "string", True),  # reader union with a matching branch
        ("string", ["null", "string"], False),  # writer's null has no reader branch
        (_enum("A", "B"), _enum("A"), True),
        (_enum("A"), _enum("A", "B"), False),
        ({"type": "array", "items": "long"}, {"type": "array", "items": "int"}, True),
        ({"type": "map", "values": "int"}, {"type": "map", "values": "string"}, False),
        (_rec({"name": "a", "type": "int", "aliases": ["b"]}), _rec({"name": "b", "type": "int"}), True),
        ({"type": "int", "logicalType": "date"}, "int", True),
    ],
)
def test_resolution_rules(new: Any, old: Any, ok: bool) -> None:
    assert (backward_problems(new, old) == []) is ok


def test_parse_rejects_what_is_not_avro() -> None:
    with pytest.raises(ValueError, match="not a valid Avro schema"):
        parse({"type": "record", "name": "R", "fields": [{"name": "a", "type": "nope"}]})
