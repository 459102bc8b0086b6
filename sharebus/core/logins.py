"""Logins to the bus's web services (the schema registry, the worker's web API) are Kafka logins:
a SCRAM handshake with the bus's principals and passwords, so rotation and `subscriber disable`
apply everywhere at once; a checked login is trusted for a minute."""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from sharebus.core.errors import AccessError, UnreachableError
from sharebus.core.kafka_clients import admin_client, scram_config, tls_ca
from sharebus.core.settings import Settings


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an HTTP `Authorization: Basic …` header; None when it is not one."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep and user else None


def refused_login(response: Any, where: str) -> None:
    """AccessError when a web service of the bus refused the login (401) or the role (403)."""
    if response.status_code not in (401, 403):
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    raise AccessError(
        where,
        str(body.get("problem") or f"refused the request (HTTP {response.status_code})"),
        fix=str(
            body.get("fix") or "log in as a user with the role (SHAREBUS_KAFKA_USER, SHAREBUS_KAFKA_PASSWORD)"
        ),
    )


class LoginUnavailable(UnreachableError):
    """Kafka, where logins are checked, does not answer: the login can be neither taken nor refused."""


LOGIN_TTL = 60.0
"""Seconds a checked login is trusted (as Kafka's own sessions re-authenticate every minute)."""
REFUSAL_TTL = 5.0
"""Seconds a refused login is answered from memory (no Kafka login per guess)."""
_REFUSED = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}


class RefusalWatch:
    """Security monitoring of logins: refused logins are counted per user over the last `window`
    seconds; the `threshold`-th raises one alert (`on_alert(user, count)`), then none for that
    user until the window has passed — guessing is reported, not every guess."""

    def __init__(
        self,
        threshold: int,
        window: float,
        on_alert: Callable[[str, int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.on_alert = on_alert
        self.clock = clock
        self._refused: dict[str, list[float]] = {}
        self._alerted: dict[str, float] = {}
        self._lock = threading.Lock()

    def refused(self, user: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._refused) > 10_000:
                self._refused.clear()
            times = [t for t in self._refused.get(user, []) if now - t < self.window] + [now]
            self._refused[user] = times
            quiet = now - self._alerted.get(user, -self.window) >= self.window
            alert = len(times) >= self.threshold and quiet
            if alert:
                self._alerted[user] = now
        if alert:
            self.on_alert(user, len(times))


class KafkaLogins:
    """Whether (user, password) logs in to Kafka: a SCRAM handshake on the bus's own listener;
    each refusal is told to the `watch` (security monitoring), if any."""

    def __init__(
        self,
        settings: Settings,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        watch: RefusalWatch | None = None,
    ):
        self.watch = watch
        self.bootstrap = settings.kafka_bootstrap
        self.protocol = settings.kafka_security_protocol
        self.ca = tls_ca(settings)
        self.timeout = timeout
        self.clock = clock
        self._seen: dict[bytes, tuple[bool, float]] = {}  # digest of the credentials → (ok, when)
        self._lock = threading.Lock()

    def check(self, user: str, password: str) -> bool:
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            seen = self._seen.get(key)
        now = self.clock()
        if seen is not None and now - seen[1] < (LOGIN_TTL if seen[0] else REFUSAL_TTL):
            ok = seen[0]
        else:
            ok = self._login(user, password)
            with self._lock:
                if len(self._seen) > 10_000:
                    self._seen.clear()
                self._seen[key] = (ok, now)
        if not ok and self.watch is not None:
            self.watch.refused(user)
        return ok

    def _login(self, user: str, password: str) -> bool:
        errors: list[KafkaError] = []
        conf = scram_config(self.bootstrap, user, password, self.protocol, ca=self.ca)
        admin = admin_client(conf, error_cb=errors.append)
        deadline = self.clock() + self.timeout
        while True:
            try:
                admin.list_topics(timeout=0.25)
                return True
            except KafkaException as exc:
                admin.poll(0)  # serves error_cb: a refused login is reported there
                if any(e.code() in _REFUSED for e in errors):
                    return False
                if self.clock() >= deadline:
                    raise LoginUnavailable(
                        f"Kafka at {self.bootstrap}",
                        f"cannot check the login of {user}",
                        actual=str(exc.args[0]),
                        fix="start Kafka (`sharebus stack status`)",
                    ) from None
