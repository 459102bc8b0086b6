"""The bus's HTTPS clients against a real HTTPS server: verified against the bus's CA, refused
without it, and an HTTP server named as such (never taken for a dead one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from schemas.errors import RegistryAccessError, RegistryUnavailableError, RegistryUnreachableError
from schemas.registry_client import RegistryClient
from schemas.registry_server import make_app, memory_registry
from sharebus.core.errors import AccessError, ConfigError
from sharebus.core.https import REGISTRY_SERVER, WEB_SERVER, server_context, verify, web_url
from sharebus.core.settings import Settings
from sharebus.dev.stack.tls import Authority
from sharebus.testing.web import served
from streams.ops.api import fetch_status
from tests.unit.test_ops_cli import ops_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = Settings(_env_file=None, runtime_dir=tmp_path / "runtime", kafka_security_protocol="PLAINTEXT")  # type: ignore[call-arg]
    Authority.of(base).ensure(base, lambda line: None)
    return base


def test_the_worker_is_asked_over_https_and_verified(settings: Settings) -> None:
    with served(ops_app(), server_context(settings, WEB_SERVER)) as port:
        mine = settings.model_copy(update={"web_port": port})
        report, where = fetch_status(mine)
        assert report is not None and where == web_url(mine, "/api/ops/status")
        assert where.startswith("https://127.0.0.1:")
        # Without the bus's CA (the system's CAs only): refused, not "no worker answers".
        stranger = mine.model_copy(update={"tls_ca_file": settings.tls_home / "missing.pem"})
        assert verify(stranger) is True
        with pytest.raises(AccessError, match="not trusted") as refused:
            fetch_status(stranger)
        assert "SHAREBUS_TLS_CA_FILE" in str(refused.value.fix)


def test_an_http_worker_asked_over_https_is_named(settings: Settings) -> None:
    with served(ops_app()) as port:
        with pytest.raises(AccessError, match="answers HTTP, not HTTPS") as refused:
            fetch_status(settings.model_copy(update={"web_port": port}))
        assert "SHAREBUS_WEB_TLS=false" in str(refused.value.fix)


def test_a_server_without_its_certificate_is_a_clear_error(tmp_path: Path) -> None:
    empty = Settings(_env_file=None, tls_dir=tmp_path)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="cannot be loaded for the web server") as refused:
        server_context(empty, WEB_SERVER)
    assert "sharebus stack tls" in str(refused.value.fix)


def test_the_registry_client_verifies_with_the_buss_ca_whatever_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests lets REQUESTS_CA_BUNDLE replace a session's own `verify`: the client gives its CA
    with every request, so a system bundle in the environment changes nothing."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    app = make_app(memory_registry())
    with served(app, server_context(settings, REGISTRY_SERVER)) as port:
        url = f"https://127.0.0.1:{port}"
        assert RegistryClient(url, verify=str(settings.tls_ca)).subjects() == []
        with pytest.raises(RegistryAccessError, match="not trusted"):
            RegistryClient(url).subjects()  # the system's CAs only
    with served(make_app(memory_registry())) as plain:
        over_https = RegistryClient(f"https://127.0.0.1:{plain}", verify=str(settings.tls_ca))
        with pytest.raises(RegistryAccessError, match="answers HTTP, not HTTPS"):
            over_https.subjects()


def test_a_registry_away_is_asked_again_within_the_patience() -> None:
    """The worker waits a registry out (its Kafka restarting: 503, or no answer) like Kafka itself;
    past its patience, the error says how long it waited. Without patience: at once."""
    calls: list[int] = []

    async def subjects(request: web.Request) -> web.Response:
        calls.append(1)
        if len(calls) < 3:
            return web.json_response({"error_code": 50301, "message": "Kafka does not answer"}, status=503)
        return web.json_response(["a-value"])

    app = web.Application()
    app.router.add_get("/subjects", subjects)
    waits: list[str] = []
    with served(app) as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(RegistryUnavailableError, match="cannot serve") as at_once:
            RegistryClient(url).subjects()
        assert at_once.value.error_code == 50301 and len(calls) == 1
        assert RegistryClient(url, patience=10, on_wait=waits.append).subjects() == ["a-value"]
        assert len(calls) == 3 and len(waits) == 1 and "asking again" in waits[0]
    dead = RegistryClient(url, patience=1.2, timeout=0.5)
    with pytest.raises(RegistryUnreachableError, match="does not answer, for 1 s"):
        dead.subjects()
