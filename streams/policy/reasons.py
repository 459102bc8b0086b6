"""Reason codes of policy decisions: why a record was delivered to a subscriber, or withheld."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a delivery happened or did not; the value is what metrics and audit logs carry."""

    # --- a delivery to one subscriber ----------------------------------------------------
    SHARED_UNCONDITIONAL = "shared_unconditional"
    """Unconditional resource, the subscriber's demand is in force (pending or approved)."""
    SHARED_APPROVED = "shared_approved"
    """Conditional resource, under an approved demand within its validity window."""
    MOVED_OUT = "moved_out"
    """Tombstone: the row moved to a district outside this subscriber's rows."""

    # --- withheld from one subscriber that has a demand ----------------------------------
    DEMAND_PENDING = "demand_pending"
    """Conditional resource, the demand is not approved yet."""
    DEMAND_REJECTED = "demand_rejected"
    DEMAND_REVOKED = "demand_revoked"
    DEMAND_EXPIRED = "demand_expired"
    """`now` is at or after the demand's valid_until."""
    DEMAND_NOT_YET_VALID = "demand_not_yet_valid"
    """`now` is before the demand's valid_from."""

    # --- about the whole record (subscriber None) ----------------------------------------
    NOT_SHARED = "not_shared"
    """The resource is not_shared: nobody receives it."""
    NO_SUBSCRIBER = "no_subscriber"
    """Nobody is entitled to this row (no demand in force covers its region)."""
    REGION_MISSING = "region_missing"
    """The row image needed for routing has no value in the region field."""
    REGION_UNKNOWN = "region_unknown"
    """The row's region code is not a district of the city."""
    BEFORE_IMAGE_MISSING = "before_image_missing"
    """An update without before-image: a move out of a district cannot be tombstoned."""
    SCHEMA_DRIFT = "schema_drift"
    """Columns absent from the catalog were dropped (their grade is unknown: fail closed)."""
    UNKNOWN_SOURCE = "unknown_source"
    """The event's source table is no resource of the catalog."""
    TRUNCATE = "truncate"
    """A truncate event: not routed (districts are not emptied by the bus)."""
    MALFORMED_EVENT = "malformed_event"
    """Not a usable Debezium envelope (op, row image or key missing)."""


DELIVERY_REASONS = frozenset({Reason.SHARED_UNCONDITIONAL, Reason.SHARED_APPROVED, Reason.MOVED_OUT})
DEMAND_REASONS = frozenset(
    {
        Reason.DEMAND_PENDING,
        Reason.DEMAND_REJECTED,
        Reason.DEMAND_REVOKED,
        Reason.DEMAND_EXPIRED,
        Reason.DEMAND_NOT_YET_VALID,
    }
)
RECORD_REASONS = frozenset(Reason) - DELIVERY_REASONS - DEMAND_REASONS
