"""Errors of the district side: sync, reconcile and backfill, each naming the object and the fix."""

from __future__ import annotations

from sharebus.core.errors import ExitCode, SharebusError


class SyncError(SharebusError):
    """A subscriber record could not be decoded or applied to the district database."""

    exit_code = ExitCode.SYNC  # the sync stopped at the record; offsets stay before it


class SyncBusyError(SharebusError):
    """Another `district sync` already writes the same target schema."""

    exit_code = ExitCode.SYNC_BUSY


class SchemaEvolutionError(SyncError):
    """A record schema cannot be mapped onto the district table (e.g. a changed key)."""


class BackfillError(SharebusError):
    """A backfill could not be planned, started, or was not seen to complete."""

    exit_code = ExitCode.SNAPSHOT
