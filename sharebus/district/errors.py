"""Errors of the district side: sync, reconcile and backfill, each naming the object and the fix."""

from __future__ import annotations

from sharebus.errors import SharebusError

EXIT_DIFFERENCES = 1  # reconcile found missing, extra or differing rows
EXIT_SYNC = 12  # a record could not be applied (the sync stopped at it; offsets stay before it)
EXIT_BUSY = 13  # another sync holds the target schema
EXIT_BACKFILL = 11  # a backfill's snapshot aborted, timed out or was not routed (as connectors' 11)


class SyncError(SharebusError):
    """A subscriber record could not be decoded or applied to the district database."""

    exit_code = EXIT_SYNC


class SyncBusyError(SharebusError):
    """Another `district sync` already writes the same target schema."""

    exit_code = EXIT_BUSY


class SchemaEvolutionError(SyncError):
    """A record schema cannot be mapped onto the district table (e.g. a changed key)."""


class BackfillError(SharebusError):
    """A backfill could not be planned, started, or was not seen to complete."""

    exit_code = EXIT_BACKFILL
