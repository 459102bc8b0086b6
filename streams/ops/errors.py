"""Errors of the ops monitor and its API: `SharebusError`s that name the fix."""

from __future__ import annotations

from sharebus.core.errors import ExitCode, SharebusError


class OpsError(SharebusError):
    """The ops monitor could not sample the bus, or its API answered with something else."""

    exit_code = ExitCode.OPS
