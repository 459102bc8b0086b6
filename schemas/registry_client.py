"""A small client of the Confluent schema registry REST API: register, look up, fetch, check."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

import requests

from schemas.canonical import canonical_json, canonical_text
from schemas.errors import (
    REGISTRY_FIX,
    RegistryAccessError,
    RegistryError,
    RegistryUnavailableError,
    RegistryUnreachableError,
    SchemaIncompatibleError,
)
from sharebus.core.https import verify
from sharebus.core.kafka_clients import Role, http_login
from sharebus.core.settings import Settings

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
NOT_ENTITLED = 40301  # the guard: a reader asked for a subject (or a schema of one) not its own now

Schema = Mapping[str, Any] | str


class RegisteredVersion(NamedTuple):
    """One version of a subject."""

    subject: str
    version: int
    id: int
    schema: str


def _text(schema: Schema) -> str:
    return canonical_text(schema) if isinstance(schema, str) else canonical_json(schema)


def _path(*parts: str | int) -> str:
    return "/".join(quote(str(p), safe="") for p in parts)


class RegistryClient:
    """Talks to the registry at `url`; ids are cached, so each (subject, schema) is registered
    over the network once per client. Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: float = 5.0,
        verify: str | bool = True,
        patience: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # A registry that does not answer, or answers 503, is asked again for up to `patience`
        # seconds (each wait told to `on_wait`); a register is idempotent, so a retry is safe.
        self.patience = patience
        self._on_wait = on_wait
        self.user = auth[0] if auth is not None else None
        self._session = requests.Session()
        self._session.auth = auth  # HTTP basic: the registry checks it as a Kafka login
        # https: the CA file its certificate is verified against, given with each request (a
        # session's own `verify` loses to REQUESTS_CA_BUNDLE in requests' merge of the environment).
        self._verify = verify
        self._session.headers.update({"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE})
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        role: Role = Role.ADMIN,
        *,
        patience: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> RegistryClient:
        """The client of SHAREBUS_REGISTRY_URL logged in as `role` (when the bus has logins)."""
        return cls(
            settings.registry_url,
            auth=http_login(settings, role),
            verify=verify(settings),
            patience=patience,
            on_wait=on_wait,
        )

    # --- writes ---------------------------------------------------------------------------------
    def register(self, subject: str, schema: Schema) -> int:
        """The schema's id, registering it under `subject` if it is new there. Idempotent: the
        same schema gets the same id. SchemaIncompatibleError when the subject's compatibility
        rule (BACKWARD) refuses it."""
        text = _text(schema)
        cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        body = self._call("POST", _path("subjects", subject, "versions"), {"schema": text}, subject)
        schema_id = int(body["id"])
        with self._lock:
            self._ids[(subject, text)] = schema_id
            self._schemas[schema_id] = text
        return schema_id

    # --- reads ----------------------------------------------------------------------------------
    def lookup(self, subject: str, schema: Schema) -> RegisteredVersion | None:
        """The version of `subject` holding this schema, or None."""
        try:
            body = self._call("POST", _path("subjects", subject), {"schema": _text(schema)}, subject)
        except RegistryError as err:
            if err.error_code in (SUBJECT_NOT_FOUND, SCHEMA_NOT_FOUND):
                return None
            raise
        return RegisteredVersion(subject, int(body["version"]), int(body["id"]), body["schema"])

    def schema(self, schema_id: int) -> str:
        """The schema text of an id (cached: an id's schema never changes)."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        body = self._call("GET", _path("schemas", "ids", schema_id), None, f"schema id {schema_id}")
        text = str(body["schema"])
        with self._lock:
            self._schemas[schema_id] = text
        return text

    def subjects(self) -> list[str]:
        return [str(s) for s in self._call("GET", "subjects", None, "subjects")]

    def versions(self, subject: str) -> list[int]:
        return [int(v) for v in self._call("GET", _path("subjects", subject, "versions"), None, subject)]

    def version(self, subject: str, version: int | str = "latest") -> RegisteredVersion:
        body = self._call("GET", _path("subjects", subject, "versions", version), None, subject)
        return RegisteredVersion(subject, int(body["version"]), int(body["id"]), str(body["schema"]))

    def is_compatible(self, subject: str, schema: Schema, version: int | str = "latest") -> bool:
        """Whether `schema` may follow `version` of `subject` under its compatibility rule."""
        path = _path("compatibility", "subjects", subject, "versions", version)
        body = self._call("POST", path, {"schema": _text(schema)}, subject)
        return bool(body["is_compatible"])

    def compatibility_level(self) -> str:
        return str(self._call("GET", "config", None, "config")["compatibilityLevel"])

    # --- transport ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any, what: str) -> Any:
        """One request, asked again while the registry is away (within `patience`)."""
        deadline, pause = time.monotonic() + self.patience, 0.5
        while True:
            try:
                return self._call_once(method, path, body, what)
            except (RegistryUnreachableError, RegistryUnavailableError) as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    if self.patience > 0 and isinstance(exc, RegistryUnreachableError):
                        raise RegistryUnreachableError(
                            exc.subject,
                            f"{exc.problem}, for {self.patience:.0f} s",
                            expected=exc.expected,
                            actual=exc.actual,
                            fix=exc.fix,
                        ) from exc
                    raise
                if self._on_wait is not None:
                    self._on_wait(
                        f"{exc.subject} {exc.problem} ({exc.actual}): asking again, {left:.0f} s left"
                    )
                time.sleep(min(pause, left))
                pause = min(pause * 2, 5.0)

    def _call_once(self, method: str, path: str, body: Any, what: str) -> Any:
        url = f"{self.url}/{path}"
        try:
            resp = self._session.request(
                method,
                url,
                data=None if body is None else json.dumps(body),
                timeout=self.timeout,
                verify=self._verify,
            )
        except requests.exceptions.SSLError as exc:
            if "wrong version number" in str(exc).lower():
                raise RegistryAccessError(
                    f"schema registry at {self.url}",
                    "answers HTTP, not HTTPS",
                    fix="ask a registry serving HTTP with an http:// SHAREBUS_REGISTRY_URL",
                ) from None
            raise RegistryAccessError(
                f"schema registry at {self.url}",
                "its TLS certificate is not trusted",
                expected="a certificate signed by the bus's CA (SHAREBUS_TLS_CA_FILE), for this host name",
                actual=str(exc.args[0] if exc.args else exc)[:300],
                fix="set SHAREBUS_TLS_CA_FILE to the CA that signed it, or use a name its certificate"
                " holds (SHAREBUS_TLS_HOSTNAMES, then `sharebus stack tls`)",
            ) from None
        except requests.RequestException as exc:
            raise RegistryUnreachableError(
                f"schema registry at {self.url}",
                "does not answer",
                expected="a registry speaking the Confluent REST API",
                actual=f"{type(exc).__name__}: {exc}",
                fix=REGISTRY_FIX,
            ) from exc
        if resp.status_code < 400:
            return resp.json()
        try:
            error = resp.json()
            code, message = int(error.get("error_code", resp.status_code)), str(error.get("message", ""))
        except ValueError:
            code, message = resp.status_code, resp.text[:300]
        if resp.status_code == 503:  # it cannot check the login or write now: a passing state
            raise RegistryUnavailableError(
                f"schema registry at {self.url}",
                f"cannot serve {method} /{path} now",
                actual=f"HTTP 503: {message}",
                fix=REGISTRY_FIX,
                error_code=code,
            )
        if resp.status_code in (401, 403):
            raise RegistryAccessError(
                f"schema registry at {self.url}",
                f"refused {method} /{path}" + (f" to {self.user}" if self.user else " without a login"),
                actual=message,
                fix="check the principal's password (SHAREBUS_KAFKA_*_PASSWORD); a district reads only the"
                " subjects of the resources it receives (its demands in force)",
                error_code=code,
            )
        if resp.status_code == 409:
            raise SchemaIncompatibleError(
                f"registry subject {what}",
                "refuses the new schema version: it would break existing consumers",
                expected="a BACKWARD compatible change (new fields nullable with default null)",
                actual=message,
                fix=(
                    "keep the change backward compatible (derive makes added fields nullable);"
                    " a changed field type needs a new field name"
                ),
                error_code=code,
            )
        raise RegistryError(
            f"schema registry at {self.url}",
            f"{method} /{path} answered {resp.status_code}",
            actual=message,
            fix="check the schema and the registry log (`sharebus stack logs registry`)",
            error_code=code,
        )
