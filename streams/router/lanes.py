"""Fast lanes: the common change event (checks pass, a known district, no unknown column, no
move) decided straight from the policy's precompiled tables; any other event returns None and
takes the general path (`QualityChecks.check_event`, then `Policy.decide`), which it must agree with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sharebus.catalog.models import Sharing
from streams.policy.compiled import Policy
from streams.policy.envelope import OP_DELETE, OP_UPDATE, SourceKey
from streams.policy.masks import MaskFn
from streams.policy.results import Send, Withheld
from streams.quality import QualityChecks

FastDecision = tuple[tuple[Send, ...], tuple[Withheld, ...], Mapping[str, Any]]
"""(sends, withheld, the row image the sends read)."""


class Lane(NamedTuple):
    """One resource's common case under the routing table in force."""

    resource: str
    passes: Callable[[Mapping[str, Any]], bool]
    passes_delete: Callable[[Mapping[str, Any]], bool]
    region_field: str | None
    sends: Mapping[str, Mapping[str | None, tuple[Send, ...]]]  # op → district code (None: city-wide)
    withheld: Mapping[str | None, tuple[Withheld, ...]]
    known_fields: frozenset[str]
    masks: tuple[tuple[str, MaskFn], ...]

    def decide(self, event: Mapping[str, Any], op: str) -> FastDecision | None:
        """The sends and withheld entries of `event` when it is a common case, else None."""
        by_code = self.sends.get(op)
        if by_code is None:  # truncate, or not an op at all
            return None
        if op == OP_DELETE:
            image = event.get("before")
            if image.__class__ is not dict or not self.passes_delete(image):
                return None
        else:
            image = event.get("after")
            if image.__class__ is not dict or not self.passes(image) or not image.keys() <= self.known_fields:
                return None
        field = self.region_field
        code = None if field is None else image.get(field)
        sends = by_code.get(code)
        if sends is None:
            return None
        held = self.withheld[code]
        if not sends and not held:
            return None  # the general path names it (no subscriber)
        if op == OP_UPDATE and field is not None:
            before = event.get("before")
            if before.__class__ is not dict or before.get(field, None) != code:
                return None  # a move, or no before-image to tell
        return sends, held, image


def lanes_at(policy: Policy, checks: QualityChecks, now: datetime) -> dict[SourceKey, Lane]:
    """The lanes of every shared resource at `now`, by event source."""
    book = LaneBook(policy, checks)
    lanes = {key: book.lane(key, now) for key in checks.by_source}
    return {key: lane for key, lane in lanes.items() if lane is not None}


class LaneBook:
    """The lanes of one policy version, each built the first time its source is routed and
    rebuilt only when its resource's table changes (a demand validity boundary): a batch looks
    up the sources it carries, never the thousands it does not."""

    def __init__(self, policy: Policy, checks: QualityChecks) -> None:
        self.policy = policy
        self.checks = checks
        self._lanes: dict[SourceKey, tuple[object, Lane | None]] = {}

    def lane(self, key: SourceKey, now: datetime) -> Lane | None:
        res = self.policy.resource_at_source(key)
        res_checks = self.checks.by_source.get(key)
        if (
            res is None
            or res_checks is None
            or res.sharing is Sharing.NOT_SHARED
            or res.id != res_checks.resource
            or res_checks.enforced  # a rule that may dead-letter: the general path looks it up
        ):
            return None
        table = res.table_at(now)
        cached = self._lanes.get(key)
        if cached is not None and cached[0] is table:
            return cached[1]
        regional = res.region_field is not None
        codes: list[str | None] = list(table.by_district) if regional else [None]
        withheld: dict[str | None, tuple[Withheld, ...]] = {None: table.withheld_all}
        if regional:
            withheld = {code: held for code, held in table.withheld_by_district.items()}
        lane = Lane(
            resource=res.id,
            passes=res_checks.passes,
            passes_delete=res_checks.passes_delete,
            region_field=res.region_field,
            sends={op: {code: by_code[code] for code in codes} for op, by_code in table.sends.items()},
            withheld=withheld,
            known_fields=res.known_fields,
            masks=res.masks,
        )
        self._lanes[key] = (table, lane)
        return lane
