"""The registry behind a guard (in memory, a fake guard here; the bus's guard on the real stack in
the integration tests): anonymous and wrong logins get 401, readers may not write and read only
their subjects and the ids those use, writers do everything, the health probe stays open; our
client and confluent-kafka's `SchemaRegistryClient` (basic.auth.user.info) both log in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from schemas.errors import RegistryAccessError
from schemas.registry_client import RegistryClient
from schemas.registry_guard import Caller, GuardUnavailable
from schemas.registry_server import BackgroundServer, memory_registry
from sharebus.core.errors import ExitCode

MINE, THEIRS = "sharebus.chongqing.market.Enterprise", "sharebus.chongqing.housing.Property"


def _schema(name: str) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": "sharebus.t",
        "fields": [{"name": "id", "type": "long"}],
    }


class FakeGuard:
    """admin/pw writes; 500101/pw reads MINE only; `down` makes every login unanswerable."""

    down = False

    def caller(self, user: str, password: str) -> Caller | None:
        if self.down:
            raise GuardUnavailable("Kafka does not answer")
        if password != "pw":
            return None
        if user == "admin":
            return Caller(user, True, lambda _s: True)
        if user == "500101":
            return Caller(user, False, lambda s: s == MINE)
        return None


@pytest.fixture
def guard() -> FakeGuard:
    return FakeGuard()


@pytest.fixture
def server(guard: FakeGuard) -> Iterator[BackgroundServer]:
    running = BackgroundServer(memory_registry(), guard=guard)
    yield running
    running.stop()


@pytest.fixture
def ids(server: BackgroundServer) -> dict[str, int]:
    admin = RegistryClient(server.url, auth=("admin", "pw"))
    return {
        MINE: admin.register(MINE, _schema("Enterprise")),
        THEIRS: admin.register(THEIRS, _schema("Property")),
    }


def test_the_health_probe_is_open_and_everything_else_needs_a_login(server: BackgroundServer) -> None:
    assert requests.get(f"{server.url}/", timeout=5).status_code == 200
    for path in ("/subjects", "/config", "/schemas/ids/1", "/schemas/types"):
        resp = requests.get(f"{server.url}{path}", timeout=5)
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert resp.json()["error_code"] == 40101


@pytest.mark.parametrize("auth", [("admin", "wrong"), ("nobody", "pw"), ("500101", "")])
def test_a_wrong_login_is_refused(server: BackgroundServer, auth: tuple[str, str]) -> None:
    resp = requests.get(f"{server.url}/subjects", auth=auth, timeout=5)
    assert resp.status_code == 401 and auth[0] in resp.json()["message"]


def test_a_malformed_authorization_header_is_refused(server: BackgroundServer) -> None:
    for header in ("Basic !!!", "Bearer x", "Basic " + "bm9jb2xvbg=="):  # the last: "nocolon"
        resp = requests.get(f"{server.url}/subjects", headers={"Authorization": header}, timeout=5)
        assert resp.status_code == 401, header


def test_a_writer_does_everything(server: BackgroundServer, ids: dict[str, int]) -> None:
    admin = RegistryClient(server.url, auth=("admin", "pw"))
    assert admin.subjects() == sorted([MINE, THEIRS])
    assert json.loads(admin.schema(ids[THEIRS]))["name"] == "Property"
    resp = requests.put(
        f"{server.url}/config", json={"compatibility": "FULL"}, auth=("admin", "pw"), timeout=5
    )
    assert resp.status_code == 200


def test_a_reader_reads_its_subjects_and_their_ids_only(
    server: BackgroundServer, ids: dict[str, int]
) -> None:
    reader = RegistryClient(server.url, auth=("500101", "pw"))
    assert reader.subjects() == [MINE]
    assert reader.versions(MINE) == [1]
    assert json.loads(reader.schema(ids[MINE]))["name"] == "Enterprise"
    assert reader.lookup(MINE, _schema("Enterprise")) is not None  # a POST that only reads
    assert reader.is_compatible(MINE, _schema("Enterprise"))
    auth = ("500101", "pw")
    assert requests.get(f"{server.url}/schemas/ids/{ids[MINE]}/subjects", auth=auth, timeout=5).json() == [
        MINE
    ]
    for path in (
        f"/subjects/{THEIRS}/versions",
        f"/subjects/{THEIRS}/versions/1",
        f"/schemas/ids/{ids[THEIRS]}",
    ):
        resp = requests.get(f"{server.url}{path}", auth=auth, timeout=5)
        assert resp.status_code == 403 and resp.json()["error_code"] == 40301, path
    assert requests.get(f"{server.url}/schemas/ids/999", auth=auth, timeout=5).status_code == 404


def test_a_reader_may_not_write(server: BackgroundServer, ids: dict[str, int]) -> None:
    reader = RegistryClient(server.url, auth=("500101", "pw"))
    with pytest.raises(RegistryAccessError) as info:
        reader.register(MINE, {**_schema("Enterprise"), "doc": "changed"})
    assert info.value.exit_code == ExitCode.ACCESS and "500101" in info.value.render()
    for method, path in (
        ("PUT", "/config"),
        ("PUT", f"/config/{MINE}"),
        ("POST", f"/subjects/{MINE}/versions"),
    ):
        resp = requests.request(method, f"{server.url}{path}", json={}, auth=("500101", "pw"), timeout=5)
        assert resp.status_code == 403, (method, path)


def test_our_client_without_a_login_gets_an_access_error_with_the_fix(server: BackgroundServer) -> None:
    with pytest.raises(RegistryAccessError) as info:
        RegistryClient(server.url).subjects()
    assert "without a login" in info.value.render() and info.value.fix


def test_a_guard_that_cannot_tell_answers_503(server: BackgroundServer, guard: FakeGuard) -> None:
    guard.down = True
    resp = requests.get(f"{server.url}/subjects", auth=("admin", "pw"), timeout=5)
    assert resp.status_code == 503 and "Kafka does not answer" in resp.json()["message"]


def test_confluent_kafkas_client_logs_in_with_basic_auth(
    server: BackgroundServer, ids: dict[str, int]
) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    mine = SchemaRegistryClient({"url": server.url, "basic.auth.user.info": "500101:pw"})
    assert json.loads(mine.get_schema(ids[MINE]).schema_str)["name"] == "Enterprise"
    with pytest.raises(SchemaRegistryError) as refused:
        mine.get_schema(ids[THEIRS])
    assert refused.value.http_status_code == 403
    anonymous = SchemaRegistryClient({"url": server.url})
    with pytest.raises(SchemaRegistryError) as anon:
        anonymous.get_subjects()
    assert anon.value.http_status_code == 401
