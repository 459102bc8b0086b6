"""Preflight results shared by every database kind: one check = what was found, what is needed,
and the SQL or setting that fixes it; a report raises one error listing every failure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from connectors.errors import PreflightError

OK = "ok"
WARN = "warn"
FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One preflight check of a department database (or of the bus side of onboarding)."""

    name: str
    status: str  # ok | warn | fail
    found: str
    needed: str
    fix: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict[str, str | None]:
        return {
            "check": self.name,
            "status": self.status,
            "found": self.found,
            "needed": self.needed,
            "fix": self.fix,
        }

    def render(self) -> str:
        mark = {OK: "ok  ", WARN: "warn", FAIL: "FAIL"}[self.status]
        lines = [f"{mark} {self.name}: found {self.found}; needs {self.needed}"]
        if self.fix and self.status != OK:
            lines.extend(
                f"       fix: {line}" if n == 0 else f"            {line}"
                for n, line in enumerate(self.fix.splitlines())
            )
        return "\n".join(lines)


def ok(name: str, found: str, needed: str) -> Check:
    return Check(name, OK, found, needed)


def warn(name: str, found: str, needed: str, fix: str) -> Check:
    return Check(name, WARN, found, needed, fix)


def fail(name: str, found: str, needed: str, fix: str) -> Check:
    return Check(name, FAIL, found, needed, fix)


@dataclass(frozen=True)
class Step:
    """Something onboarding creates or changes, and how to take it back if a later step fails.

    `do` may be None: a guard whose `undo` cleans up what another step (the connector) creates.
    """

    description: str
    do: Callable[[], object] | None
    undo: Callable[[], object] | None = None


@dataclass
class Preflight:
    """What preflight found, and the steps onboarding will take on the database when it passes."""

    subject: str  # the database, without credentials
    checks: list[Check] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def add(self, checks: Iterable[Check]) -> None:
        self.checks.extend(checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    def raise_if_failed(self) -> None:
        failures = self.failures
        if not failures:
            return
        error = PreflightError(
            self.subject,
            f"{len(failures)} preflight check{'s' if len(failures) > 1 else ''} failed; nothing was created",
            expected="every check below to pass",
            actual=", ".join(c.name for c in failures),
            fix="apply each fix below (as the database owner or a superuser), then re-run",
            details="\n".join(c.render() for c in failures),
        )
        error.checks = [c.to_dict() for c in self.checks]
        raise error
