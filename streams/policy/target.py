"""A routing target: one subscriber's projection of a resource under one demand."""

from __future__ import annotations

from dataclasses import dataclass

from streams.policy.reasons import Reason


@dataclass(frozen=True, slots=True)
class Target:
    """One subscriber's projection of a resource under one demand.

    `fields` is the output layout (resource order, key fields included, secret and redacted
    fields left out). When `masked`, values come from the masked row and the fields in `clear`
    are taken from the original row; otherwise every value comes from the original row.
    """

    subscriber: str
    resource: str
    topic: str  # share.<subscriber>.<department>: carries the department's resources
    demand_id: str
    reason: Reason
    fields: tuple[str, ...]
    clear: tuple[str, ...]
    masked: bool
