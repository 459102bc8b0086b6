"""Errors of onboarding and operating connectors, and the exit codes `sharebus connectors` keeps."""

from __future__ import annotations

from typing import Any

from sharebus.core.errors import ExitCode, SharebusError, UnreachableError, exit_codes_help

EXIT_CODES_HELP = exit_codes_help(
    ExitCode.OK,
    ExitCode.FAILED,
    ExitCode.CONFIG,
    ExitCode.UNREACHABLE,
    ExitCode.CONNECTOR,
    ExitCode.PREFLIGHT,
    ExitCode.CHANGE_PENDING,
    ExitCode.LAG_WARNING,
    ExitCode.SNAPSHOT,
)


class PreflightError(SharebusError):
    """The department database is not ready for capture; `details` lists every failed check and
    `checks` carries them all (passed ones too) as data for --json."""

    exit_code = ExitCode.PREFLIGHT
    checks: list[dict[str, str | None]] = []  # noqa: RUF012 - replaced per instance

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "details": self.details, "checks": self.checks}


class ChangePendingError(SharebusError):
    """The connector exists with a different config and the change was not confirmed."""

    exit_code = ExitCode.CHANGE_PENDING


class SnapshotError(SharebusError):
    """An incremental snapshot was aborted, or was not seen to finish in time."""

    exit_code = ExitCode.SNAPSHOT


class LoginError(UnreachableError):
    """The database answers but refuses the login (password, user, database name, host rules)."""


class OnboardError(SharebusError):
    """Onboarding failed mid-way for a reason no check foresaw; what it created was rolled back."""

    exit_code = ExitCode.FAILED
