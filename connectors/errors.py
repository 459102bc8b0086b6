"""Errors of onboarding and operating connectors, and the exit codes `sharebus connectors` keeps."""

from __future__ import annotations

from sharebus.errors import ConfigError, ConnectorError, SharebusError, UnreachableError

# Stable exit codes of `sharebus connectors …` (scripts rely on them; documented in the CLI help).
EXIT_OK = 0
EXIT_NOT_RUNNING = 1  # status: not RUNNING; add: an unexpected failure mid-way (rolled back)
EXIT_CONFIG = ConfigError.exit_code  # 2: a bad argument, URL or setting
EXIT_UNREACHABLE = UnreachableError.exit_code  # 6: database or Kafka Connect unreachable / login refused
EXIT_CONNECTOR = ConnectorError.exit_code  # 7: Connect rejected the config, or the connector failed
EXIT_PREFLIGHT = 8  # the department database is not ready; every failed check is listed
EXIT_CHANGE_PENDING = 9  # registered with another config; re-run with --yes to apply the diff
EXIT_LAG_WARNING = 10  # status: RUNNING, but the replication slot / binlog retains too much
EXIT_SNAPSHOT = 11  # an incremental snapshot was aborted or did not finish in time

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 not RUNNING (status) or an unexpected failure (add: rolled back);"
    " 2 bad argument or setting; 6 database or Kafka"
    " Connect unreachable, or login refused; 7 Connect rejected the config or the connector"
    " failed; 8 preflight failed (nothing was created); 9 registered with a different config"
    " (re-run with --yes); 10 RUNNING but retained WAL/binlog above the threshold; 11 snapshot"
    " aborted or timed out."
)


class PreflightError(SharebusError):
    """The department database is not ready for capture; `details` lists every failed check and
    `checks` carries them all (passed ones too) as data for --json."""

    exit_code = EXIT_PREFLIGHT
    checks: list[dict[str, str | None]] = []  # noqa: RUF012 - replaced per instance

    def to_dict(self) -> dict[str, str | None]:
        return {**super().to_dict(), "details": self.details}


class ChangePendingError(SharebusError):
    """The connector exists with a different config and the change was not confirmed."""

    exit_code = EXIT_CHANGE_PENDING


class SnapshotError(SharebusError):
    """An incremental snapshot was aborted, or was not seen to finish in time."""

    exit_code = EXIT_SNAPSHOT


class LoginError(UnreachableError):
    """The database answers but refuses the login (password, user, database name, host rules)."""


class OnboardError(SharebusError):
    """Onboarding failed mid-way for a reason no check foresaw; what it created was rolled back."""

    exit_code = EXIT_NOT_RUNNING
