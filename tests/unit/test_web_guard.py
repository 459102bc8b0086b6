"""The worker's web server behind logins (a fake Kafka login here; the real worker in the
integration tests): the health probe is open, everything else needs a login or the scrape token,
and each role reads what `ACCESS` gives it — refusals are JSON errors with the fix; the CLI's
clients log in and turn a refusal into AccessError (exit 14)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from aiohttp import web
from pydantic import SecretStr

from sharebus.apps.web_guard import ACCESS, HEALTH_PATH, guard_middleware
from sharebus.core.errors import AccessError, ExitCode
from sharebus.core.logins import LoginUnavailable
from sharebus.core.settings import Settings
from sharebus.core.web_roles import WebRole, allowed, web_role
from streams.ops.api import fetch_status

SETTINGS = Settings(
    web_operators="ops1, ops2", web_authorities="authority", web_scrape_token=SecretStr("tok")
)
PASSWORDS = {
    SETTINGS.kafka_admin_user: "adminpw",
    "ops1": "pw",
    "authority": "pw",
    "500101": "pw",
    "500106": "pw",
}


class FakeLogins:
    down = False

    def check(self, user: str, password: str) -> bool:
        if self.down:
            raise LoginUnavailable("Kafka at x", "cannot check the login", fix="start Kafka")
        return PASSWORDS.get(user) == password


@pytest.fixture
def logins() -> FakeLogins:
    return FakeLogins()


@pytest.fixture
def base(logins: FakeLogins) -> Iterator[str]:
    """A web server with the worker's paths (each answers its own path) behind the guard."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path, "subscribers": []})

    app = web.Application(middlewares=[guard_middleware(SETTINGS, logins)])
    for path in (
        HEALTH_PATH,
        "/metrics",
        "/api/ops/status",
        "/dashboard",
        "/api/metrics",
        "/api/metrics/calls",
        "/",
    ):
        app.router.add_get(path, echo)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def get(
    base: str, path: str, auth: tuple[str, str] | None = None, token: str | None = None
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{base}{path}", auth=auth, headers=headers, timeout=5)


def test_the_health_probe_is_open_and_nothing_else(base: str) -> None:
    assert get(base, HEALTH_PATH).status_code == 200
    for path in ("/metrics", "/api/ops/status", "/dashboard", "/api/metrics/calls", "/"):
        resp = get(base, path)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert resp.json()["fix"] and resp.json()["error"] == "AccessError"


@pytest.mark.parametrize(
    ("who", "readable"),
    [
        (
            (SETTINGS.kafka_admin_user, "adminpw"),
            {"/metrics", "/api/ops/status", "/dashboard", "/api/metrics/calls", "/"},
        ),
        (("ops1", "pw"), {"/metrics", "/api/ops/status", "/dashboard", "/api/metrics/calls"}),
        (("authority", "pw"), {"/api/metrics", "/api/metrics/calls"}),
        (("500101", "pw"), set()),
    ],
)
def test_each_role_reads_what_access_gives_it(base: str, who: tuple[str, str], readable: set[str]) -> None:
    for path in ("/metrics", "/api/ops/status", "/dashboard", "/api/metrics", "/api/metrics/calls", "/"):
        resp = get(base, path, auth=who)
        if path in readable or (path == "/api/metrics" and "/api/metrics/calls" in readable):
            assert resp.status_code == 200, (who, path)
        else:
            assert resp.status_code == 403, (who, path)
            assert (
                f"User:{who[0]}" in resp.json()["problem"] and "SHAREBUS_WEB_OPERATORS" in resp.json()["fix"]
            )


def test_a_wrong_password_or_unknown_user_is_refused(base: str) -> None:
    for auth in (("ops1", "wrong"), ("nobody", "pw")):
        resp = get(base, "/api/ops/status", auth=auth)
        assert resp.status_code == 401 and auth[0] in resp.json()["problem"]


def test_the_scrape_token_reads_metrics_only(base: str) -> None:
    assert get(base, "/metrics", token="tok").status_code == 200
    assert get(base, "/api/ops/status", token="tok").status_code == 403
    assert get(base, "/metrics", token="other").status_code == 401


def test_a_login_kafka_cannot_check_answers_503(base: str, logins: FakeLogins) -> None:
    logins.down = True
    resp = get(base, "/api/ops/status", auth=("ops1", "pw"))
    assert resp.status_code == 503 and resp.json()["fix"] == "start Kafka"


def test_the_cli_client_logs_in_and_a_refusal_is_an_access_error(base: str) -> None:
    port = int(base.rsplit(":", 1)[1])
    ok = Settings(web_port=port, web_tls=False, kafka_admin_password=SecretStr("adminpw"))
    report, where = fetch_status(ok)
    assert report is not None and where.endswith("/api/ops/status")
    with pytest.raises(AccessError) as refused:
        fetch_status(
            Settings(web_port=port, web_tls=False, kafka_user="500101", kafka_password=SecretStr("pw"))
        )
    assert refused.value.exit_code == ExitCode.ACCESS and "500101" in refused.value.problem


def test_roles_are_decided_once_from_the_settings() -> None:
    assert web_role(SETTINGS, SETTINGS.kafka_admin_user) is WebRole.ADMIN
    assert web_role(SETTINGS, "ops2") is WebRole.OPERATOR
    assert web_role(SETTINGS, "authority") is WebRole.AUTHORITY
    assert web_role(SETTINGS, SETTINGS.kafka_router_user) is WebRole.SERVICE
    assert web_role(SETTINGS, "500101") is WebRole.SUBSCRIBER
    assert not allowed(ACCESS, "/metricsx", WebRole.OPERATOR)  # a prefix covers only below a '/'
    assert not allowed(ACCESS, "/", WebRole.SERVICE)


def test_refused_logins_raise_one_alert_per_user_per_window() -> None:
    from sharebus.core.logins import RefusalWatch

    now = [0.0]
    alerts: list[tuple[str, int]] = []
    watch = RefusalWatch(3, 60.0, lambda user, n: alerts.append((user, n)), clock=lambda: now[0])
    for t in (0.0, 1.0):
        now[0] = t
        watch.refused("mallory")
    assert alerts == []
    now[0] = 2.0
    watch.refused("mallory")
    assert alerts == [("mallory", 3)]
    for t in (3.0, 4.0, 5.0):  # still guessing within the window: no second alert
        now[0] = t
        watch.refused("mallory")
    watch.refused("bob")
    assert alerts == [("mallory", 3)]
    now[0] = 70.0  # the window has passed: the older refusals no longer count, guessing goes on
    for _ in range(3):
        watch.refused("mallory")
    assert alerts == [("mallory", 3), ("mallory", 3)]


def test_kafka_logins_tell_the_watch_of_every_refusal_cached_or_not(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    from sharebus.core.logins import KafkaLogins, RefusalWatch

    refused: list[str] = []
    watch = RefusalWatch(100, 60.0, lambda user, n: None)
    monkeypatch.setattr(watch, "refused", refused.append)
    logins = KafkaLogins(Settings(), watch=watch)
    monkeypatch.setattr(logins, "_login", lambda user, password: password == "right")
    assert not logins.check("eve", "guess") and not logins.check("eve", "guess")  # the 2nd from memory
    assert logins.check("eve", "right")
    assert refused == ["eve", "eve"]
