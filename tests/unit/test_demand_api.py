"""The demand workflow on the worker's web API, behind the real guard (fake logins, the sample
catalog as the policy in force, a fake desk): a subscriber sees and requests its own demands and is
refused every decision — its own above all — at once, without reaching the desk; the data authority
decides; answers pass through, and a desk that does not answer leaves the step queued (202)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import requests
from aiohttp import web
from click.testing import CliRunner
from pydantic import SecretStr

from sharebus.apps.demand_api import DEMANDS_PATH, DemandApi, DeskClient, fetch_demands
from sharebus.apps.web_guard import guard_middleware
from sharebus.catalog.models import Catalog
from sharebus.catalog.orders import DeskRequest
from sharebus.catalog.workflow import Actor, Step, visible
from sharebus.cli.demand import demand as demand_cli
from sharebus.core.errors import AccessError, ExitCode
from sharebus.core.settings import get_settings
from sharebus.testing.web import served
from streams.router.app import RouterService
from tests.unit.test_web_guard import SETTINGS, FakeLogins

SUBSCRIBER, AUTHORITY = ("500106", "pw"), ("authority", "pw")
OWN = "CQ-2025-0013"  # 500106's pending demand for realestate.certificate
OTHERS = "CQ-2025-0010"  # 500103's


@dataclass
class FakeDesk:
    answer: dict[str, Any] | None
    taken: list[DeskRequest] = field(default_factory=list)

    def submit(self, request: DeskRequest, timeout: float = 0.0) -> dict[str, Any] | None:
        self.taken.append(request)
        return self.answer


@dataclass
class Policy:
    catalog: Catalog
    version: str


@dataclass
class Service:
    policy: Policy


@pytest.fixture
def desk(chongqing_catalog: Catalog) -> FakeDesk:
    body = {"demand": {"id": "new"}, "step": "request", "to": "pending", "version": chongqing_catalog.version}
    return FakeDesk({"id": "x", "status": 201, "body": body})


@pytest.fixture
def base(chongqing_catalog: Catalog, desk: FakeDesk) -> Iterator[str]:
    api = DemandApi(SETTINGS)
    api._desk = cast(DeskClient, desk)
    app = web.Application(middlewares=[guard_middleware(SETTINGS, FakeLogins())])
    service = Service(Policy(chongqing_catalog, chongqing_catalog.version))
    api.add_routes(app, cast(RouterService, service))
    with served(app) as port:
        yield f"http://127.0.0.1:{port}{DEMANDS_PATH}"


def post(url: str, auth: tuple[str, str], body: Any) -> requests.Response:
    return requests.post(url, auth=auth, json=body, timeout=10)


def test_a_subscriber_sees_its_own_demands_the_authority_every_one(base: str) -> None:
    mine = requests.get(base, auth=SUBSCRIBER, timeout=10).json()["demands"]
    assert {d["subscriber"] for d in mine} == {"500106"} and OWN in {d["id"] for d in mine}
    every = requests.get(base, auth=AUTHORITY, timeout=10).json()["demands"]
    assert len(every) > len(mine)
    pending = requests.get(base, params={"state": "pending"}, auth=AUTHORITY, timeout=10).json()["demands"]
    assert pending and {d["state"] for d in pending} == {"pending"}
    assert requests.get(f"{base}/{OWN}", auth=SUBSCRIBER, timeout=10).json()["demand"]["id"] == OWN
    hidden = requests.get(f"{base}/{OTHERS}", auth=SUBSCRIBER, timeout=10)
    assert hidden.status_code == 404 and hidden.json()["problem"] == "no such demand"
    assert requests.get(base, params={"expiring": "soon"}, auth=AUTHORITY, timeout=10).status_code == 400


def test_a_subscriber_never_approves_its_own_demand_and_the_desk_never_hears_of_it(
    base: str, desk: FakeDesk
) -> None:
    own = post(f"{base}/{OWN}/approve", SUBSCRIBER, {"consent": "x"})
    assert own.status_code == 403 and "never decides its own demand" in own.json()["problem"]
    for step in ("reject", "revoke"):
        assert post(f"{base}/{OTHERS}/{step}", SUBSCRIBER, {"reason": "r"}).status_code == 403
    other = post(base, SUBSCRIBER, {"subscriber": "500105", "resource": "realestate.certificate"})
    assert other.status_code == 422  # malformed first: no purpose, no contact
    asked = {"purpose": "p", "contact": {"name": "n", "phone": "1"}, "fields": ["cert_no", "district_code"]}
    other = post(base, SUBSCRIBER, {**asked, "subscriber": "500105", "resource": "realestate.certificate"})
    assert other.status_code == 403 and "for itself only" in other.json()["problem"]
    closed = post(base, SUBSCRIBER, {**asked, "resource": "market.inspection"})
    assert closed.status_code == 409 and "not shared" in closed.json()["problem"]
    assert post(f"{base}/{OWN}/bless", AUTHORITY, {}).status_code == 404
    assert requests.post(base, auth=SUBSCRIBER, data=b"{not json", timeout=10).status_code == 400
    assert desk.taken == []


def test_a_request_and_a_decision_reach_the_desk_as_their_user(base: str, desk: FakeDesk) -> None:
    asked = {"resource": "realestate.certificate", "purpose": "p", "contact": {"name": "n", "phone": "1"}}
    endless = post(base, SUBSCRIBER, {**asked, "fields": ["cert_no"]})
    assert endless.status_code == 422 and endless.json()["expected"].startswith("valid_until")
    asked["valid_until"] = "2027-06-30T00:00:00+08:00"
    made = post(base, SUBSCRIBER, {**asked, "fields": ["cert_no", "district_code"]})
    assert made.status_code == 201 and made.json()["to"] == "pending"
    approved = post(f"{base}/{OWN}/approve", AUTHORITY, {"consent": "中心", "fields": ["cert_no"]})
    assert approved.status_code == 201  # the fake desk's answer, passed through
    [request, decision] = desk.taken
    assert (request.user, request.authority, request.order.step) == ("500106", False, Step.REQUEST)
    assert request.order.ask is not None and request.order.ask.subscriber == "500106"
    assert (decision.user, decision.authority, decision.order.demand) == ("authority", True, OWN)
    assert decision.order.fields == ("cert_no",)


def test_a_desk_that_does_not_answer_leaves_the_step_queued(base: str, desk: FakeDesk) -> None:
    desk.answer = None
    queued = post(f"{base}/{OWN}/reject", AUTHORITY, {"reason": "不符合条件"})
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    assert "demand serve" in queued.json()["fix"] and queued.json()["request"] == desk.taken[0].id


def test_demand_list_mine_asks_the_worker_as_the_user(base: str) -> None:
    port = int(base.split(":")[2].split("/")[0])
    settings = SETTINGS.model_copy(
        update={
            "web_host": "127.0.0.1",
            "web_port": port,
            "web_tls": False,
            "kafka_user": "500106",
            "kafka_password": SecretStr("pw"),
        }
    )
    mine = fetch_demands(settings, {"state": "pending"})["demands"]
    assert [(d["id"], d["state"]) for d in mine] == [(OWN, "pending")]
    with pytest.raises(AccessError):
        fetch_demands(settings.model_copy(update={"kafka_password": SecretStr("wrong")}), {})


def test_an_owning_department_sees_the_demands_for_its_resources(chongqing_catalog: Catalog) -> None:
    seen = visible(chongqing_catalog, Actor("realestate"))
    assert seen and {d.resource for d in seen} == {"realestate.certificate"}
    assert visible(chongqing_catalog, Actor("500106")) == [
        d for d in chongqing_catalog.demands if d.subscriber == "500106"
    ]


def test_the_cli_lists_mine_as_a_table_and_refuses_a_wrong_login(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = base.split(":")[2].split("/")[0]
    env = {
        "SHAREBUS_WEB_HOST": "127.0.0.1",
        "SHAREBUS_WEB_PORT": port,
        "SHAREBUS_WEB_TLS": "false",
        "SHAREBUS_KAFKA_USER": "500106",
        "SHAREBUS_KAFKA_PASSWORD": "pw",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        shown = CliRunner(mix_stderr=False).invoke(demand_cli, ["list", "--mine", "--state", "pending"])
        assert shown.exit_code == 0, shown.stderr
        assert OWN in shown.stdout and "CQ-2025-0010" not in shown.stdout
        monkeypatch.setenv("SHAREBUS_KAFKA_PASSWORD", "wrong")
        get_settings.cache_clear()
        refused = CliRunner(mix_stderr=False).invoke(demand_cli, ["list", "--mine"])
        assert refused.exit_code == ExitCode.ACCESS and "Traceback" not in refused.stderr
    finally:
        get_settings.cache_clear()
