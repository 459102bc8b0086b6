"""A routing target: one subscriber's projection of a resource under one demand."""

from __future__ import annotations

from typing import NamedTuple

from streams.policy.reasons import Reason


class Target(NamedTuple):
    """One subscriber's projection of a resource under one demand (a tuple: the city compiles
    ~100,000 of them, and a frozen dataclass costs several times more to make).

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
    hidden: tuple[str, ...] = ()  # the fields delivered masked (maskable, not granted in clear)
