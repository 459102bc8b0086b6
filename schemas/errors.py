"""Errors of the Avro contract: the registry unreachable or refusing, a record that does not fit."""

from __future__ import annotations

from sharebus.core.errors import ExitCode, SharebusError, UnreachableError

REGISTRY_FIX = "start it with `sharebus stack up`, or point SHAREBUS_REGISTRY_URL at a running registry"


class RegistryError(SharebusError):
    """The schema registry answered with an error (bad schema, unknown id, server fault);
    `error_code` is the registry's (40401 subject not found, 40403 schema not found, …)."""

    def __init__(
        self,
        subject: str,
        problem: str,
        *,
        error_code: int | None = None,
        expected: str | None = None,
        actual: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.error_code = error_code
        super().__init__(subject, problem, expected=expected, actual=actual, fix=fix)


class RegistryAccessError(RegistryError):
    """The registry refused the login (401) or the operation (403: a reader writing, or asking for
    a subject it is not entitled to)."""

    exit_code = ExitCode.ACCESS


class RegistryUnavailableError(RegistryError):
    """The registry answered 503: it cannot serve the request now (it cannot check a login while
    its Kafka is away, or another instance writes); worth asking again within a tolerance."""


class RegistryUnreachableError(UnreachableError):
    """No schema registry answers at the configured URL."""


class SchemaIncompatibleError(RegistryError):
    """A new schema version would break the subject's existing consumers (BACKWARD check)."""


class EncodeError(SharebusError):
    """A record does not fit its topic's Avro schema (a field of the wrong type, a key missing)."""


class SchemaBookError(SharebusError):
    """A topic or demand the schema book was asked about has no projection in the policy."""
