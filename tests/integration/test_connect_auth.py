"""Kafka Connect's REST API requires a login (Kafka's basic-auth REST extension): anonymous and
wrong-password requests are refused — by our client as exit 14 naming the settings, never a
traceback — and the bus's own login works."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from connectors.client import ConnectClient
from sharebus.core.errors import AccessError
from sharebus.core.settings import Settings

pytestmark = pytest.mark.integration


def test_connect_rest_refuses_anonymous_and_wrong_logins(
    stack_settings: Settings, sharebus_cli: Callable[..., Any]
) -> None:
    url = stack_settings.connect_url
    assert requests.get(f"{url}/connectors", timeout=10).status_code == 401
    assert requests.get(f"{url}/connectors", timeout=10, auth=("sharebus-admin", "guess")).status_code == 401
    with pytest.raises(AccessError, match="refused the login") as anonymous:
        ConnectClient(url).names()
    assert anonymous.value.actual == "anonymous"

    wrong = sharebus_cli("connectors", "list", env={"SHAREBUS_CONNECT_REST_PASSWORD": "not-the-password"})
    assert wrong.exit_code == 14, wrong.stderr
    assert "SHAREBUS_CONNECT_REST_PASSWORD" in wrong.stderr and "Traceback" not in wrong.stderr
    assert "not-the-password" not in wrong.stderr + wrong.stdout

    assert isinstance(ConnectClient.of(stack_settings).names(), list)
    assert sharebus_cli("connectors", "list").exit_code == 0
