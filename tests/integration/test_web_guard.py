"""The worker's web server behind logins, on the real stack: `/health` is open; the ops status
needs a Kafka login of the bus (the admin's is taken, a wrong password or none is 401, a
district's login is 403), and `sharebus ops status` logs in — as a district it exits 14; a
scripted guesser raises one security alert in the audit trail."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from sharebus.apps.acl.broker import Broker
from sharebus.core.audit import SECURITY_ALERT, read_audit
from sharebus.core.errors import ExitCode
from sharebus.core.https import verify, web_url
from sharebus.core.kafka_clients import http_login
from sharebus.testing.waiting import wait_until
from tests.integration.router_harness import RouterProcess, write_catalog

pytestmark = pytest.mark.integration

DISTRICT = "500111"


def test_the_worker_web_server_needs_a_login_with_the_role(
    router_factory: Callable[[Path], RouterProcess], sharebus_cli: Callable[..., Any], tmp_path: Path
) -> None:
    router = router_factory(write_catalog(tmp_path / "catalog", {}))
    settings = router.settings
    base = web_url(settings)
    assert base.startswith("https://")
    web = requests.Session()
    web.verify = verify(settings)  # the bus's CA: the web server's certificate is checked
    web.trust_env = False  # else REQUESTS_CA_BUNDLE would take the place of `verify`
    with pytest.raises(requests.exceptions.SSLError):  # and without it, refused
        requests.get(f"{base}/health", timeout=10)
    assert web.get(f"{base}/health", timeout=10).json() == {"ok": True}
    anonymous = web.get(f"{base}/api/ops/status", timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    admin = http_login(settings)
    assert admin is not None
    assert web.get(f"{base}/api/ops/status", auth=admin, timeout=30).status_code == 200
    assert web.get(f"{base}/metrics", auth=(admin[0], "wrong"), timeout=10).status_code == 401

    # Security monitoring: a scripted guesser is refused each time, and audited once.
    guesser = f"guesser{secrets.token_hex(4)}"
    for i in range(settings.security_login_refusals):
        assert web.get(f"{base}/api/ops/status", auth=(guesser, f"pw{i}"), timeout=30).status_code == 401
    alert = wait_until(
        lambda: [
            e
            for e in read_audit(settings)
            if e.get("action") == SECURITY_ALERT and e.get("subject") == guesser
        ],
        30,
        f"a security alert for {guesser}",
    )
    assert len(alert) == 1 and alert[0]["detail"]["count"] == settings.security_login_refusals

    password = secrets.token_hex(12)
    broker = Broker(settings)
    broker.set_password(DISTRICT, password)
    try:
        refused = web.get(f"{base}/api/ops/status", auth=(DISTRICT, password), timeout=30)
        assert refused.status_code == 403 and f"User:{DISTRICT}" in refused.json()["problem"]
        env = {k: v for k, v in router.env.items() if k.startswith("SHAREBUS_")}
        ok = sharebus_cli("ops", "status", "--json", env=env)
        assert ok.exit_code == 0, ok.stderr
        assert "subscribers" in json.loads(ok.stdout)
        district = sharebus_cli(
            "ops",
            "status",
            "--json",
            env={**env, "SHAREBUS_KAFKA_USER": DISTRICT, "SHAREBUS_KAFKA_PASSWORD": password},
        )
        assert district.exit_code == ExitCode.ACCESS
        assert "SHAREBUS_WEB_OPERATORS" in json.loads(district.stdout)["fix"]
    finally:
        broker.delete_user(DISTRICT)
