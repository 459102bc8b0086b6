"""The root exception of sharebus and its structured subclasses: each names the object, what was
expected, what was found, and the fix."""

from __future__ import annotations


class SharebusError(Exception):
    """Root of every error sharebus raises on purpose.

    `subject` names the thing at fault (a component, a file and entry, a connector, a record),
    `expected` and `actual` say what should be and what is, `fix` says what to do about it.
    """

    exit_code = 1

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

    def to_dict(self) -> dict[str, str | None]:
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

    exit_code = 2


class PrerequisiteError(SharebusError):
    """A tool the local stack needs (Java, Maven, PostgreSQL) is missing or too old."""

    exit_code = 3


class FetchError(SharebusError):
    """Fetching runtime artifacts (Maven Central, Debian) failed."""

    exit_code = 3


class PortInUseError(SharebusError):
    """A port the local stack needs is taken by another process."""

    exit_code = 4


class ComponentError(SharebusError):
    """A stack component failed to start, died, or is unhealthy."""

    exit_code = 5


class UnreachableError(SharebusError):
    """A service (Kafka, Kafka Connect, a database) does not answer."""

    exit_code = 6


class ConnectorError(SharebusError):
    """Kafka Connect rejected a connector config, or a connector or task failed."""

    exit_code = 7


class AccessError(SharebusError):
    """Kafka refused a login or an operation (SASL authentication, ACL authorization)."""

    exit_code = 8
