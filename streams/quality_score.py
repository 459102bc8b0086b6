"""The quality scorecard as pure functions: each resource's indicators from its figures and its
catalog entry, one documented formula to a score, and scores per responsible unit and department.

    score = 100 × (0.30·validity + 0.25·completeness + 0.20·timeliness + 0.15·consistency + 0.10·objections)

- validity      records passing every check / records seen (1 when none were seen)
- completeness  per field, after-images holding a value / after-images; the mean over the fields,
                key and required fields weighing 2, optional ones 1 (1 when no after-image)
- timeliness    0 when the resource is stale — no change for longer than its declared
                `update_frequency` allows (FRESHNESS), or none ever seen — else the share of
                its records acknowledged within 60 s of their source commit (1 when none)
- consistency   1 − references not found / references checked: a field with a `references:` rule
                holds a value that is no key of the resource it names (1 when none was checked)
- objections    the mean over the resource's objections raised in the window of how soon each
                was resolved: 1 within RESOLVE_DAYS (5) of being raised — or still open and
                younger —, falling linearly to 0 at 10 days (1 when none was raised)

A unit's or a department's score is the mean of its resources' scores: each resource counts once,
so a resource nobody changes weighs as much as a busy one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sharebus.catalog.models import Catalog, Frequency, Resource
from streams.objections import Objection, indicator
from streams.quality_tally import REQUIRED_WEIGHT

WEIGHTS: Mapping[str, float] = {
    "validity": 0.30,
    "completeness": 0.25,
    "timeliness": 0.20,
    "consistency": 0.15,
    "objections": 0.10,
}
"""The score's weights, per indicator (they sum to 1)."""

FRESHNESS: Mapping[Frequency, timedelta | None] = {
    Frequency.REALTIME: timedelta(hours=1),
    Frequency.HOURLY: timedelta(hours=2),
    Frequency.DAILY: timedelta(days=2),
    Frequency.WEEKLY: timedelta(days=8),
    Frequency.MONTHLY: timedelta(days=32),
    Frequency.QUARTERLY: timedelta(days=93),
    Frequency.YEARLY: timedelta(days=367),
    Frequency.IRREGULAR: None,
}
"""How long a resource may go without a change before it is stale, by declared update frequency
(None: never stale). One period and a margin: a daily resource changed yesterday morning is fresh."""


BY = ("resource", "unit", "department")
"""What a scorecard groups by."""


@dataclass(frozen=True, slots=True)
class Figures:
    """What the metrics store counted of one resource over a window (see 004_quality.sql)."""

    seen: int = 0
    invalid: Mapping[str, int] = field(default_factory=dict)
    images: int = 0
    nonnull: Mapping[str, int] = field(default_factory=dict)  # left out of the daily trend
    filled: int = 0
    weight: int = 0
    routed: int = 0
    late: int = 0
    latency_ms_sum: int = 0
    refs: int = 0  # references checked (consistency rules)
    mismatched: int = 0  # of those, not found

    @property
    def failed(self) -> int:
        return sum(self.invalid.values())

    @staticmethod
    def of(row: Mapping[str, Any]) -> Figures:
        """From a row of the `quality` metrics query."""
        return Figures(
            seen=int(row.get("seen") or 0),
            invalid={str(k): int(v) for k, v in (row.get("invalid") or {}).items()},
            images=int(row.get("images") or 0),
            nonnull={str(k): int(v) for k, v in (row.get("nonnull") or {}).items()},
            filled=int(row.get("filled") or 0),
            weight=int(row.get("weight") or 0),
            routed=int(row.get("routed") or 0),
            late=int(row.get("late") or 0),
            latency_ms_sum=int(row.get("latency_ms_sum") or 0),
            refs=int(row.get("refs") or 0),
            mismatched=int(row.get("mismatched") or 0),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Indicators:
    """Records seen and failed, the indicators (0…1) and the score (0…100) of a scorecard row."""

    seen: int
    invalid: int
    validity: float
    completeness: float
    timeliness: float
    consistency: float
    objections: float
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceScore(Indicators):
    """One resource's indicators and score over a window."""

    resource: str
    department: str
    unit: str
    fresh: bool
    last_change: datetime | None
    mean_latency_s: float | None
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "department": self.department,
            "unit": self.unit,
            "seen": self.seen,
            "invalid": self.invalid,
            **indicators_of(self),
            "fresh": self.fresh,
            "last_change": self.last_change.isoformat() if self.last_change else None,
            "mean_latency_s": round(self.mean_latency_s, 3) if self.mean_latency_s is not None else None,
            "score": round(self.score, 1),
            "problems": list(self.problems),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupScore(Indicators):
    """A unit's or a department's: the means of its resources' indicators and scores."""

    by: str
    name: str
    resources: int
    stale: int

    def to_dict(self) -> dict[str, Any]:
        return {
            self.by: self.name,
            "resources": self.resources,
            "seen": self.seen,
            "invalid": self.invalid,
            **indicators_of(self),
            "stale": self.stale,
            "score": round(self.score, 1),
        }


def indicators_of(row: Indicators) -> dict[str, float]:
    """A row's indicators by name, rounded for reports."""
    return {name: round(float(getattr(row, name)), 4) for name in WEIGHTS}


def score_of(indicators: Mapping[str, float]) -> float:
    """The formula: 100 × the weighted sum of the indicators (each 0…1)."""
    return 100.0 * sum(weight * indicators[name] for name, weight in WEIGHTS.items())


def completeness(resource: Resource, figures: Figures) -> tuple[float, tuple[str, ...]]:
    """The weighted mean non-null rate over the resource's fields — the router's weighted sums,
    `filled / weight`, exact across catalog changes — and its incomplete fields (`phone 62%
    filled`), worst first, when the figures carry them."""
    if figures.images <= 0:
        return 1.0, ()
    total = weights = 0.0
    rates: list[tuple[float, str]] = []
    for spec in resource.fields:
        weight = REQUIRED_WEIGHT if spec.required or spec.name in resource.primary_key else 1.0
        rate = min(1.0, figures.nonnull.get(spec.name, 0) / figures.images)
        total += weight * rate
        weights += weight
        if rate < 1.0 and spec.name in figures.nonnull:
            rates.append((rate, spec.name))
    rates.sort()
    incomplete = tuple(f"{name} {rate:.0%} filled" for rate, name in rates)
    if figures.weight > 0:
        return figures.filled / figures.weight, incomplete
    return (total / weights if weights else 1.0), incomplete


def consistency(checked: int, mismatched: int) -> float:
    """1 − references not found / references checked (1 when none was checked)."""
    checked = max(checked, mismatched)
    return 1.0 - mismatched / checked if checked else 1.0


def is_fresh(frequency: Frequency, last_change: datetime | None, now: datetime) -> bool:
    """Whether a resource changed recently enough for its declared update frequency."""
    allowance = FRESHNESS[frequency]
    if allowance is None:
        return True
    return last_change is not None and now - last_change <= allowance


def score_resource(
    resource: Resource,
    unit: str,
    figures: Figures,
    last_change: datetime | None,
    now: datetime,
    objections: Sequence[Objection] = (),
) -> ResourceScore:
    """One resource's indicators and score (see the module's formula)."""
    invalid = figures.failed
    seen = max(figures.seen, invalid)
    validity = (seen - invalid) / seen if seen else 1.0
    complete, incomplete = completeness(resource, figures)
    fresh = is_fresh(resource.update_frequency, last_change, now)
    on_time = 1.0 - figures.late / figures.routed if figures.routed else 1.0
    timeliness = on_time if fresh else 0.0
    indicators = {
        "validity": validity,
        "completeness": complete,
        "timeliness": timeliness,
        "consistency": consistency(figures.refs, figures.mismatched),
        "objections": indicator(objections, now),
    }
    problems: list[str] = []
    if invalid:
        checks = ", ".join(
            f"{check} {n}" for check, n in sorted(figures.invalid.items(), key=lambda kv: -kv[1])
        )
        problems.append(f"{invalid} of {seen} records failed checks ({checks})")
    problems += incomplete[:3]
    if not fresh:
        since = (
            "never changed" if last_change is None else f"no change since {last_change:%Y-%m-%d %H:%M} UTC"
        )
        problems.append(f"stale: {since}, declared {resource.update_frequency.value}")
    if figures.late:
        problems.append(f"{figures.late} of {figures.routed} records delivered over 60 s after commit")
    unresolved = [o for o in objections if not o.resolved]
    if unresolved:
        oldest = max((now - o.raised_at).days for o in unresolved)
        problems.append(
            f"{len(unresolved)} of {len(objections)} objections unresolved, the oldest {oldest} d"
        )
    if figures.mismatched:
        rules = ", ".join(f"{f.name} → {f.references.resource}" for f in resource.fields if f.references)
        problems.append(f"{figures.mismatched} of {figures.refs} references not found: {rules}")
    return ResourceScore(
        resource=resource.id,
        department=resource.department,
        unit=unit,
        seen=seen,
        invalid=invalid,
        fresh=fresh,
        last_change=last_change,
        mean_latency_s=figures.latency_ms_sum / figures.routed / 1000 if figures.routed else None,
        score=score_of(indicators),
        problems=tuple(problems),
        **indicators,
    )


def scorecard(
    catalog: Catalog,
    figures: Mapping[str, Figures],
    last_changes: Mapping[str, datetime],
    now: datetime,
    *,
    only: Collection[str] | None = None,
    objections: Mapping[str, Sequence[Objection]] | None = None,
) -> list[ResourceScore]:
    """Every catalog resource's score (those in `only`, when given), in catalog order (a resource
    without figures was not seen); `objections`: per resource, those raised in the window."""
    units = {r.resource: r.unit for r in catalog.responsibilities}
    raised = objections or {}
    return [
        score_resource(
            res,
            units.get(res.id, ""),
            figures.get(res.id, Figures()),
            last_changes.get(res.id),
            now,
            raised.get(res.id, ()),
        )
        for res in catalog.resources
        if only is None or res.id in only
    ]


def scorecard_of(
    catalog: Catalog,
    report: Mapping[str, Any],
    now: datetime,
    *,
    only: Collection[str] | None = None,
    objections: Iterable[Objection] = (),
) -> list[ResourceScore]:
    """`scorecard` over a report of the metrics query `quality` (its `rows`, `last_changes` and
    `since`), with the `objections` raised from its first day on."""
    figures = {row["resource"]: Figures.of(row) for row in report["rows"]}
    changes = {resource: datetime.fromisoformat(text) for resource, text in report["last_changes"].items()}
    since = report.get("since")
    start = datetime.fromisoformat(since).replace(tzinfo=now.tzinfo) if isinstance(since, str) else None
    raised: dict[str, list[Objection]] = {}
    for o in objections:
        if (start is None or o.raised_at >= start) and o.raised_at <= now:
            raised.setdefault(o.resource, []).append(o)
    return scorecard(catalog, figures, changes, now, only=only, objections=raised)


def group_name(by: str, unit: str, department: str) -> str:
    """The row a resource counts in when scores go `by` unit or department."""
    return (unit or "(no unit named)") if by == "unit" else department


def grouped(scores: Iterable[ResourceScore], by: str) -> list[GroupScore]:
    """Scores per unit or department (the mean of their resources'), by name."""
    groups: dict[str, list[ResourceScore]] = {}
    for s in scores:
        groups.setdefault(group_name(by, s.unit, s.department), []).append(s)
    out: list[GroupScore] = []
    for name, members in sorted(groups.items()):
        n = len(members)

        def mean(values: Sequence[float], n: int = n) -> float:
            return sum(values) / n

        out.append(
            GroupScore(
                by=by,
                name=name,
                resources=n,
                seen=sum(m.seen for m in members),
                invalid=sum(m.invalid for m in members),
                validity=mean([m.validity for m in members]),
                completeness=mean([m.completeness for m in members]),
                timeliness=mean([m.timeliness for m in members]),
                consistency=mean([m.consistency for m in members]),
                objections=mean([m.objections for m in members]),
                stale=sum(1 for m in members if not m.fresh),
                score=mean([m.score for m in members]),
            )
        )
    return out


def ranked(rows: Sequence[ResourceScore | GroupScore]) -> list[ResourceScore | GroupScore]:
    """Best score first (ties by name): the data authority's ranking."""
    return sorted(
        rows, key=lambda r: (-round(r.score, 6), r.resource if isinstance(r, ResourceScore) else r.name)
    )


def summary(scores: Sequence[ResourceScore], *, worst: int = 5) -> dict[str, Any]:
    """The dashboard's panel: the mean score, stale resources and failed records, the departments
    and the resources scoring lowest (with their first problem)."""
    departments = sorted(grouped(scores, "department"), key=lambda g: (g.score, g.name))[:worst]
    lowest = sorted(scores, key=lambda s: (s.score, s.resource))[:worst]
    return {
        "resources": len(scores),
        "score": round(sum(s.score for s in scores) / len(scores), 1) if scores else None,
        "stale": sum(1 for s in scores if not s.fresh),
        "seen": sum(s.seen for s in scores),
        "invalid": sum(s.invalid for s in scores),
        "lowest_departments": [{"department": g.name, "score": round(g.score, 1)} for g in departments],
        "lowest_resources": [
            {
                "resource": s.resource,
                "unit": s.unit,
                "score": round(s.score, 1),
                "problem": s.problems[0] if s.problems else "",
            }
            for s in lowest
        ],
    }


def trend(
    catalog: Catalog,
    series: Sequence[Mapping[str, Any]],
    last_changes: Mapping[str, Mapping[str, str]],
    days: Sequence[str],
    now: datetime,
    *,
    only: Collection[str] | None = None,
    objections: Iterable[Objection] = (),
) -> dict[str, dict[str, float]]:
    """day → resource → its score from that day's figures alone (the same formula), freshness
    judged at the day's end (now, today) with the newest change up to it. `series` are the trend
    query's rows (per resource, parallel arrays of days and figures); `last_changes` day →
    resource → change, for the days on which any changed (carried over the days between);
    `objections` count on the day they were raised, by how soon they were resolved (or, open, by
    their age now)."""
    raised: dict[tuple[str, str], list[Objection]] = {}
    for o in objections:
        raised.setdefault((o.raised_at.date().isoformat(), o.resource), []).append(o)
    by_resource = {s["resource"]: s for s in series}
    frequency = {r.id: r.update_frequency for r in catalog.resources if only is None or r.id in only}
    out: dict[str, dict[str, float]] = {}
    known: dict[str, datetime] = {}
    index = {res: {d: i for i, d in enumerate(s["days"])} for res, s in by_resource.items()}
    for day in days:
        for resource, text in last_changes.get(day, {}).items():
            known[resource] = datetime.fromisoformat(text)
        end = min(
            now, datetime.fromisoformat(day).replace(tzinfo=now.tzinfo) + timedelta(days=1, microseconds=-1)
        )
        scores: dict[str, float] = {}
        for resource, freq in frequency.items():
            s, i = by_resource.get(resource), index.get(resource, {}).get(day)
            seen = failed = routed = late = filled = weight = refs = mismatched = 0
            if s is not None and i is not None:
                seen, failed, routed, late = s["seen"][i], s["failed"][i], s["routed"][i], s["late"][i]
                filled, weight = s["filled"][i], s["weight"][i]
                refs = s["refs"][i] if "refs" in s else 0
                mismatched = s["mismatched"][i] if "mismatched" in s else 0
            seen = max(seen, failed)
            fresh = is_fresh(freq, known.get(resource), end)
            scores[resource] = score_of(
                {
                    "validity": (seen - failed) / seen if seen else 1.0,
                    "completeness": filled / weight if weight else 1.0,
                    "timeliness": (1.0 - late / routed if routed else 1.0) if fresh else 0.0,
                    "consistency": consistency(refs, mismatched),
                    "objections": indicator(raised.get((day, resource), ()), now),
                }
            )
        out[day] = scores
    return out
