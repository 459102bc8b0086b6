"""A small client for Kafka Connect's REST API (with `requests`): errors name the connector and fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from sharebus.core.errors import AccessError, ConnectorError, UnreachableError
from sharebus.core.settings import Settings

_TIMEOUT = 15.0
REBALANCE_WAIT = 30.0
"""Seconds a request is retried while Connect answers that its workers are rebalancing (409, or
500 "a rebalance is expected"): normal for a moment after a connector is added or removed."""


def _rebalancing(status: int, message: str) -> bool:
    return status == 409 or (status == 500 and "rebalance" in message.lower())


@dataclass(frozen=True)
class TaskState:
    id: int
    state: str
    trace: str | None = None


@dataclass(frozen=True)
class ConnectorState:
    """A connector's state and its tasks' states, as Connect's /status reports them."""

    name: str
    state: str
    tasks: tuple[TaskState, ...] = field(default_factory=tuple)
    trace: str | None = None

    @property
    def running(self) -> bool:
        return self.state == "RUNNING" and bool(self.tasks) and all(t.state == "RUNNING" for t in self.tasks)

    @property
    def failed(self) -> bool:
        return self.state == "FAILED" or any(t.state == "FAILED" for t in self.tasks)

    def error_summary(self) -> str | None:
        """The cause of a failure in a few lines, not a 200-line Java trace."""
        traces = [self.trace] + [t.trace for t in self.tasks]
        return next((summarise_trace(t) for t in traces if t), None)


def summarise_trace(trace: str) -> str:
    """First line of a Java stack trace plus its `Caused by:` lines."""
    lines = trace.strip().splitlines()
    keep = [lines[0]] + [ln.strip() for ln in lines[1:] if ln.strip().startswith("Caused by:")]
    return "\n".join(dict.fromkeys(keep))  # de-duplicated, order kept


def connect_login(settings: Settings) -> tuple[str, str]:
    """The basic-auth login of Connect's REST API."""
    return settings.connect_rest_user, settings.connect_rest_password.get_secret_value()


class ConnectClient:
    """Kafka Connect REST calls used by sharebus; one instance per Connect cluster URL."""

    def __init__(
        self, url: str, *, session: requests.Session | None = None, auth: tuple[str, str] | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        if auth is not None:
            self.session.auth = auth

    @classmethod
    def of(cls, settings: Settings) -> ConnectClient:
        """The client of the deployment's Connect, logged in as SHAREBUS_CONNECT_REST_USER."""
        return cls(settings.connect_url, auth=connect_login(settings))

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
        deadline, pause = time.monotonic() + REBALANCE_WAIT, 0.25
        while True:
            resp = self._send(method, path, **kw)
            if resp.status_code in ok:
                break
            if resp.status_code in (401, 403):
                raise AccessError(
                    f"Kafka Connect at {self.url}",
                    f"refused the login ({resp.status_code}) for {method} {path}",
                    expected="the REST login of SHAREBUS_CONNECT_REST_USER / SHAREBUS_CONNECT_REST_PASSWORD",
                    actual="anonymous"
                    if getattr(self.session, "auth", None) is None
                    else "those credentials refused",
                    fix="set SHAREBUS_CONNECT_REST_USER and SHAREBUS_CONNECT_REST_PASSWORD to the login"
                    " Connect was started with (`sharebus stack up` writes it from the same settings)",
                )
            try:
                message = resp.json().get("message", resp.text)
            except ValueError:
                message = resp.text
            if _rebalancing(resp.status_code, str(message)) and time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            raise ConnectorError(
                f"Kafka Connect {method} {path}",
                f"answered {resp.status_code}",
                actual=str(message)[:500],
                fix="correct the request named above; `sharebus stack logs connect` has details",
            )
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def _send(self, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            return self.session.request(method, f"{self.url}{path}", timeout=_TIMEOUT, **kw)
        except requests.ConnectionError:
            raise UnreachableError(
                f"Kafka Connect at {self.url}",
                "does not answer",
                expected="Connect's REST API answering",
                actual="connection refused or timed out",
                fix="start the stack (`sharebus stack up`) or set SHAREBUS_CONNECT_URL",
            ) from None
        except requests.Timeout:
            raise UnreachableError(
                f"Kafka Connect at {self.url}",
                f"{method} {path} timed out",
                fix="check `sharebus stack logs connect`",
            ) from None

    # --- cluster -------------------------------------------------------------------------------
    def plugins(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/connector-plugins")
        return result

    def validate(self, connector_class: str, config: dict[str, str]) -> dict[str, list[str]]:
        """Field → error messages from Connect's validator (empty when the config is valid)."""
        short = connector_class.rsplit(".", 1)[-1]
        body = self._call("PUT", f"/connector-plugins/{short}/config/validate", json=config)
        errors: dict[str, list[str]] = {}
        for item in body.get("configs", []):
            value = item.get("value", {})
            if value.get("errors"):
                errors[value["name"]] = list(value["errors"])
        return errors

    # --- connectors ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        result: list[str] = self._call("GET", "/connectors")
        return sorted(result)

    def config(self, name: str) -> dict[str, str] | None:
        """The stored config of `name`, or None if no such connector."""
        result: dict[str, str] | None = self._call("GET", f"/connectors/{name}/config", ok=(200, 404))
        if isinstance(result, dict) and "error_code" in result:
            return None
        return result

    def put_config(self, name: str, config: dict[str, str]) -> bool:
        """Create or update `name`; True if it was created."""
        self._call("PUT", f"/connectors/{name}/config", ok=(200, 201), json=config)
        return True

    def status(self, name: str) -> ConnectorState | None:
        body = self._call("GET", f"/connectors/{name}/status", ok=(200, 404))
        if body is None or "error_code" in body:
            return None
        conn = body.get("connector", {})
        tasks = tuple(TaskState(int(t["id"]), t["state"], t.get("trace")) for t in body.get("tasks", []))
        return ConnectorState(name, conn.get("state", "UNKNOWN"), tasks, conn.get("trace"))

    def delete(self, name: str, *, timeout: float = 30.0) -> bool:
        """Delete `name` and return once Connect no longer reports it (its status answers 404
        on every worker, not a lingering UNASSIGNED); False if there was no such connector."""
        body = self._call("DELETE", f"/connectors/{name}", ok=(204, 404, 200))
        if isinstance(body, dict) and body.get("error_code") == 404:
            return False
        deadline = time.monotonic() + timeout
        while self.status(name) is not None:
            if time.monotonic() >= deadline:
                raise ConnectorError(
                    f"connector {name}",
                    f"still reported by Kafka Connect {timeout:.0f}s after its deletion",
                    expected="no such connector",
                    actual=f"status {self.status(name)}",
                    fix="check `sharebus stack logs connect`, then run the command again",
                )
            time.sleep(0.2)
        return True

    def pause(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/pause", ok=(202,))

    def resume(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/resume", ok=(202,))

    def restart(self, name: str, *, failed_only: bool = True) -> None:
        query = f"?includeTasks=true&onlyFailed={'true' if failed_only else 'false'}"
        self._call("POST", f"/connectors/{name}/restart{query}", ok=(200, 202, 204))

    def stop(self, name: str) -> None:
        """Stop the connector and its tasks (kept registered, offsets kept)."""
        self._call("PUT", f"/connectors/{name}/stop", ok=(202, 204))

    def reset_offsets(self, name: str) -> None:
        """Forget a STOPPED connector's source offsets (a re-created one starts afresh)."""
        self._call("DELETE", f"/connectors/{name}/offsets", ok=(200, 202))

    def purge(self, name: str, *, timeout: float = 30.0) -> bool:
        """Stop `name`, forget its offsets and delete it: nothing of it stays in Connect.
        False if no such connector."""
        if self.config(name) is None:  # (a just-created connector may have no status yet)
            return False
        self.stop(name)
        self.wait_state(name, "STOPPED", timeout=timeout)
        self.reset_offsets(name)
        self.delete(name)
        return True

    def wait_state(self, name: str, state: str, *, timeout: float = 30.0) -> ConnectorState:
        """Wait until the connector reports `state` (PAUSED, STOPPED, …); ConnectorError on timeout."""
        deadline = time.monotonic() + timeout
        current: ConnectorState | None = None
        while time.monotonic() < deadline:
            current = self.status(name)
            if (
                current is not None
                and current.state == state
                and (state == "STOPPED" or all(t.state == state for t in current.tasks))
            ):
                return current
            time.sleep(0.2)
        raise ConnectorError(
            f"connector {name}",
            f"not {state} after {timeout:.0f}s",
            expected=state,
            actual=current.state if current else "not registered",
            fix="check `sharebus stack logs connect`",
        )

    def wait_running(
        self,
        name: str,
        *,
        timeout: float = 60.0,
        on_wait: Callable[[ConnectorState | None], None] | None = None,
    ) -> ConnectorState:
        """Wait until the connector and all its tasks are RUNNING; raise on FAILED or timeout."""
        deadline = time.monotonic() + timeout
        state: ConnectorState | None = None
        while time.monotonic() < deadline:
            state = self.status(name)
            if state is not None and state.running:
                return state
            if state is not None and state.failed:
                raise ConnectorError(
                    f"connector {name}",
                    "failed",
                    expected="connector and tasks RUNNING",
                    actual=f"connector {state.state}, tasks "
                    + ", ".join(f"{t.id}:{t.state}" for t in state.tasks),
                    fix=f"fix the cause, then `sharebus connectors restart {name}`",
                    details=state.error_summary(),
                )
            if on_wait is not None:
                on_wait(state)
            time.sleep(0.3)
        raise ConnectorError(
            f"connector {name}",
            f"not RUNNING after {timeout:.0f}s",
            actual=state.state if state else "not registered",
            fix="check `sharebus stack logs connect`",
        )
