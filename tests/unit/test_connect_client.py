"""The Connect REST client: transient rebalance answers are waited out, real errors are not."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from connectors import client as client_module
from connectors.client import ConnectClient
from sharebus.core.errors import ConnectorError


def _response(status: int, body: dict[str, Any]) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode()
    return resp


class _Session:
    """Answers from a script, one per request."""

    def __init__(self, *answers: requests.Response) -> None:
        self.answers = list(answers)
        self.calls = 0

    def request(self, method: str, url: str, **kw: Any) -> requests.Response:
        self.calls += 1
        return self.answers.pop(0)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.time, "sleep", lambda s: None)


def test_a_rebalance_is_waited_out() -> None:
    session = _Session(
        _response(
            500, {"error_code": 500, "message": "Request cannot be completed because a rebalance is expected"}
        ),
        _response(
            409, {"error_code": 409, "message": "Cannot complete request momentarily due to rebalance"}
        ),
        _response(200, {"connector.class": "x"}),
    )
    client = ConnectClient("http://connect", session=session)  # type: ignore[arg-type]
    assert client.config("cdc-x") == {"connector.class": "x"}
    assert session.calls == 3


def test_other_errors_are_raised_at_once_naming_the_request() -> None:
    session = _Session(_response(500, {"error_code": 500, "message": "boom"}))
    client = ConnectClient("http://connect", session=session)  # type: ignore[arg-type]
    with pytest.raises(ConnectorError, match="GET /connectors/cdc-x/config") as info:
        client.config("cdc-x")
    assert "boom" in str(info.value) and session.calls == 1


def test_a_rebalance_that_does_not_end_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "REBALANCE_WAIT", 0.0)
    session = _Session(_response(409, {"error_code": 409, "message": "rebalance in progress"}))
    client = ConnectClient("http://connect", session=session)  # type: ignore[arg-type]
    with pytest.raises(ConnectorError, match="answered 409"):
        client.names()


def test_delete_returns_once_connect_no_longer_reports_the_connector() -> None:
    lingering = {"name": "cdc-x", "connector": {"state": "UNASSIGNED"}, "tasks": []}
    session = _Session(
        _response(204, {}),
        _response(200, lingering),
        _response(200, lingering),
        _response(404, {"error_code": 404, "message": "No status found for connector cdc-x"}),
    )
    client = ConnectClient("http://connect", session=session)  # type: ignore[arg-type]
    assert client.delete("cdc-x") is True
    assert session.calls == 4 and session.answers == []


def test_delete_of_an_unknown_connector_is_false_at_once() -> None:
    session = _Session(_response(404, {"error_code": 404, "message": "Connector cdc-x not found"}))
    client = ConnectClient("http://connect", session=session)  # type: ignore[arg-type]
    assert client.delete("cdc-x") is False and session.calls == 1
