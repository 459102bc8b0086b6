"""The root exception of sharebus, its structured subclasses and the exit codes: each error names
the object, what was expected, what was found, and the fix."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """Every exit code of `sharebus`: one meaning per number (`MEANINGS`; README, "Exit codes")."""

    OK = 0
    FAILED = 1
    CONFIG = 2
    PREREQUISITE = 3
    PORT_IN_USE = 4
    COMPONENT = 5
    UNREACHABLE = 6
    CONNECTOR = 7
    PREFLIGHT = 8
    CHANGE_PENDING = 9
    LAG_WARNING = 10
    SNAPSHOT = 11
    SYNC = 12
    SYNC_BUSY = 13
    ACCESS = 14
    METRICS = 15
    DELIVERY = 16
    OPS = 17
    TAMPERED = 18
    REFUSED = 19
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FAILED: "the answer is no (a difference, a connector not RUNNING) or a failure that has"
    " no code of its own (what it created was rolled back)",
    ExitCode.CONFIG: "a bad argument, file or setting",
    ExitCode.PREREQUISITE: "a tool the local stack needs is missing, or its artifacts could not be fetched",
    ExitCode.PORT_IN_USE: "a port the local stack needs is taken by another process",
    ExitCode.COMPONENT: "a stack component or the worker failed to start, died, or is unhealthy",
    ExitCode.UNREACHABLE: "Kafka, Kafka Connect, a database or the registry is unreachable, or the"
    " login was refused",
    ExitCode.CONNECTOR: "Connect rejected the config, or the connector failed",
    ExitCode.PREFLIGHT: "preflight failed (nothing was created)",
    ExitCode.CHANGE_PENDING: "registered with a different config (re-run with --yes)",
    ExitCode.LAG_WARNING: "RUNNING, but retained WAL/binlog above the threshold",
    ExitCode.SNAPSHOT: "a snapshot (resnapshot or backfill) aborted, timed out or was not routed",
    ExitCode.SYNC: "a subscriber record could not be applied (the sync stopped before it)",
    ExitCode.SYNC_BUSY: "another sync writes the same district schema",
    ExitCode.ACCESS: "Kafka refused a login or an operation (SASL, ACLs)",
    ExitCode.METRICS: "the metrics store, sink or query API failed",
    ExitCode.DELIVERY: "Kafka refused or lost a routed message (nothing was committed past it)",
    ExitCode.OPS: "the ops monitor could not sample the bus",
    ExitCode.TAMPERED: "tampering found: the audit chain is broken (a record altered, removed or"
    " inserted), or a catalog version is not signed by the admin's key",
    ExitCode.REFUSED: "a demand workflow step or an objection was refused: not the user's to take, or not"
    " possible for the demand, the objection or the resource",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_codes_help(*codes: ExitCode) -> str:
    """`Exit codes: 0 ok; 2 …` for a command's help epilog."""
    return "Exit codes: " + "; ".join(f"{int(c)} {MEANINGS[c]}" for c in codes) + "."


class SharebusError(Exception):
    """Root of every error sharebus raises on purpose.

    `subject` names the thing at fault (a component, a file and entry, a connector, a record),
    `expected` and `actual` say what should be and what is, `fix` says what to do about it.
    """

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(
        self,
        subject: str,
        problem: str,
        *,
        expected: str | None = None,
        actual: str | None = None,
        fix: str | None = None,
        details: str | None = None,
    ) -> None:
        self.subject = subject
        self.problem = problem
        self.expected = expected
        self.actual = actual
        self.fix = fix
        self.details = details
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.subject}: {self.problem}"]
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.actual is not None:
            lines.append(f"  actual:   {self.actual}")
        if self.fix is not None:
            lines.append(f"  fix:      {self.fix}")
        if self.details:
            lines.append("  details:")
            lines.extend(f"    {line}" for line in self.details.rstrip().splitlines())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "subject": self.subject,
            "problem": self.problem,
            "expected": self.expected,
            "actual": self.actual,
            "fix": self.fix,
        }


class ConfigError(SharebusError):
    """A setting, file or argument is wrong."""

    exit_code = ExitCode.CONFIG


class PrerequisiteError(SharebusError):
    """A tool the local stack needs (Java, Maven, PostgreSQL) is missing or too old."""

    exit_code = ExitCode.PREREQUISITE


class FetchError(SharebusError):
    """Fetching runtime artifacts (Maven Central, Debian) failed."""

    exit_code = ExitCode.PREREQUISITE


class PortInUseError(SharebusError):
    """A port the local stack needs is taken by another process."""

    exit_code = ExitCode.PORT_IN_USE


class ComponentError(SharebusError):
    """A stack component failed to start, died, or is unhealthy."""

    exit_code = ExitCode.COMPONENT


class UnreachableError(SharebusError):
    """A service (Kafka, Kafka Connect, a database) does not answer."""

    exit_code = ExitCode.UNREACHABLE


class ConnectorError(SharebusError):
    """Kafka Connect rejected a connector config, or a connector or task failed."""

    exit_code = ExitCode.CONNECTOR


class Refused(SharebusError):
    """A step a user asked for was refused (a demand's, an objection's): not the user's to take
    (`forbidden`), nothing such (`missing`), malformed (`invalid`), or not possible in its state
    (`conflict`); `status` is the web API's answer."""

    exit_code = ExitCode.REFUSED
    FORBIDDEN, MISSING, CONFLICT, INVALID = "forbidden", "missing", "conflict", "invalid"
    STATUS: ClassVar[dict[str, int]] = {FORBIDDEN: 403, MISSING: 404, CONFLICT: 409, INVALID: 422}

    def __init__(self, subject: str, problem: str, *, kind: str = CONFLICT, **kw: Any) -> None:
        self.kind = kind
        super().__init__(subject, problem, **kw)

    @property
    def status(self) -> int:
        return self.STATUS.get(self.kind, 409)


class AccessError(SharebusError):
    """Kafka refused a login or an operation (SASL authentication, ACL authorization)."""

    exit_code = ExitCode.ACCESS
