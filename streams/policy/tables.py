"""Per-resource routing tables: each subscriber's compiled projection (`Target`) indexed by
district code, recomputed only when `now` crosses a demand's validity boundary."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from sharebus.catalog.models import Demand, DemandStatus, Sharing, SubscriberDemand
from streams.policy.envelope import OP_DELETE, ROW_OPS
from streams.policy.masks import MaskFn
from streams.policy.reasons import Reason
from streams.policy.results import Send, Withheld
from streams.policy.target import Target

_BEGINNING = datetime.min.replace(tzinfo=UTC)
_END = datetime.max.replace(tzinfo=UTC)


class Candidate(NamedTuple):
    """A demand of one subscriber, with its compiled target and its row filter
    (None: every district's rows)."""

    binding: SubscriberDemand
    target: Target
    rows: frozenset[str] | None

    def reason_withheld(self, sharing: Sharing, now: datetime) -> Reason | None:
        """Why this demand is not in force at `now`; None when it is."""
        return demand_withheld(self.binding.demand, sharing, now)


def reaches(regional: bool, rows: frozenset[str] | None, districts: Iterable[str]) -> bool:
    """Whether a subscriber with row filter `rows` (None: every district) receives anything of a
    resource: a regional one reaches nobody through a filter naming no district of the city (the
    one rule `in_force` and `acl sync` share)."""
    return not regional or rows is None or not rows.isdisjoint(districts)


def demand_withheld(demand: Demand, sharing: Sharing, now: datetime) -> Reason | None:
    """Why `demand` of a resource shared as `sharing` is not in force at `now`; None when it is
    (the one rule the router routes by and `acl sync` grants by)."""
    if demand.status is DemandStatus.REJECTED:
        return Reason.DEMAND_REJECTED
    if demand.status is DemandStatus.REVOKED:
        return Reason.DEMAND_REVOKED
    if sharing is not Sharing.UNCONDITIONAL and demand.status is not DemandStatus.APPROVED:
        return Reason.DEMAND_PENDING
    if now < demand.valid_from:
        return Reason.DEMAND_NOT_YET_VALID
    if demand.valid_until is not None and now >= demand.valid_until:
        return Reason.DEMAND_EXPIRED
    return None


@dataclass(frozen=True, slots=True)
class Table:
    """Who receives a resource's rows during one validity segment.

    Region-partitioned resources use `by_district` (every district code is a key, possibly
    with no targets) and `withheld_by_district`; city-wide resources use `everyone` and
    `withheld_all`.
    """

    by_district: Mapping[str, tuple[Target, ...]]
    withheld_by_district: Mapping[str, tuple[Withheld, ...]]
    everyone: tuple[Target, ...]
    withheld_all: tuple[Withheld, ...]
    _sends: dict[str, Mapping[str | None, tuple[Send, ...]]] = field(default_factory=dict, compare=False)

    @property
    def sends(self) -> Mapping[str, Mapping[str | None, tuple[Send, ...]]]:
        """The sends of `by_district` (`everyone` under the key None), per op: built once per
        table on first use (routing a row then allocates none; listing entitlements never needs them)."""
        if not self._sends:
            self._sends.update(_sends(self.by_district, self.everyone))
        return self._sends


def _sends(
    by_district: Mapping[str, tuple[Target, ...]], everyone: tuple[Target, ...]
) -> dict[str, dict[str | None, tuple[Send, ...]]]:
    groups: dict[str | None, tuple[Target, ...]] = {None: everyone}
    groups.update(by_district)
    return {
        op: {code: tuple(Send(t, op, t.reason, op == OP_DELETE) for t in ts) for code, ts in groups.items()}
        for op in sorted(ROW_OPS)
    }


def build_table(
    sharing: Sharing,
    regional: bool,
    districts: tuple[str, ...],
    candidates: Mapping[str, tuple[Candidate, ...]],
    now: datetime,
) -> Table:
    """The table in force at `now`: per subscriber, the first candidate in force (candidates
    come in precedence order), else one withheld entry from its latest demand."""
    by_district: dict[str, list[Target]] = {code: [] for code in districts}
    held_by_district: dict[str, list[Withheld]] = {code: [] for code in districts}
    everyone: list[Target] = []
    held_all: list[Withheld] = []
    for subscriber, options in candidates.items():
        chosen = next((c for c in options if c.reason_withheld(sharing, now) is None), None)
        if chosen is None:
            latest = max(options, key=lambda c: (c.binding.demand.valid_from, c.binding.id))
            reason = latest.reason_withheld(sharing, now)
            assert reason is not None
            held = Withheld(subscriber, reason, f"demand {latest.binding.id}", latest.binding.id)
            rows = latest.rows
        else:
            rows = chosen.rows
        codes = districts if rows is None else tuple(c for c in districts if c in rows)
        if chosen is not None:
            if regional:
                for code in codes:
                    by_district[code].append(chosen.target)
            else:
                everyone.append(chosen.target)
        elif regional:
            for code in codes:
                held_by_district[code].append(held)
        else:
            held_all.append(held)
    targets = {code: tuple(ts) for code, ts in by_district.items()}
    return Table(
        by_district=targets,
        withheld_by_district={code: tuple(hs) for code, hs in held_by_district.items()},
        everyone=tuple(everyone),
        withheld_all=tuple(held_all),
    )


@dataclass(frozen=True, slots=True)
class CompiledResource:
    """Everything `route` needs about one resource, precomputed.

    Immutable in what it decides; `_current` memoises the table of the validity segment last
    asked for, and `_segments` every table built so far (both derived, never authoritative).
    """

    id: str
    sharing: Sharing
    region_field: str | None
    primary_key: tuple[str, ...]
    known_fields: frozenset[str]
    masks: tuple[tuple[str, MaskFn], ...]
    districts: tuple[str, ...]
    candidates: Mapping[str, tuple[Candidate, ...]]
    boundaries: tuple[datetime, ...]
    _segments: dict[int, Table] = field(default_factory=dict, compare=False, repr=False)
    _current: list[tuple[datetime, datetime, Table | None]] = field(
        default_factory=lambda: [(_END, _BEGINNING, None)], compare=False, repr=False
    )

    def in_force(self, now: datetime) -> list[Target]:
        """Per subscriber, the target of its first candidate in force at `now` (what `table_at`
        routes to, without building the table)."""
        out: list[Target] = []
        regional = self.region_field is not None
        for options in self.candidates.values():
            for c in options:
                if c.reason_withheld(self.sharing, now) is None:
                    if reaches(regional, c.rows, self.districts):
                        out.append(c.target)
                    break
        return out

    def table_at(self, now: datetime) -> Table:
        """The routing table in force at `now` (timezone-aware)."""
        low, high, table = self._current[0]
        if table is not None and low <= now < high:
            return table
        index = bisect_right(self.boundaries, now)
        table = self._segments.get(index)
        if table is None:
            table = build_table(
                self.sharing,
                self.region_field is not None,
                self.districts,
                self.candidates,
                now,
            )
            self._segments[index] = table
        low = self.boundaries[index - 1] if index > 0 else _BEGINNING
        high = self.boundaries[index] if index < len(self.boundaries) else _END
        self._current[0] = (low, high, table)
        return table
