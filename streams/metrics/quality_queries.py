"""The `quality` metrics query: each resource's quality figures over the last days (in all, or per
day) and the newest source change ever seen of each, from the daily rollup `quality_1d`.

The figures are sums; the scorecard (`streams.quality_score`) turns them into indicators with the
catalog, which the store does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from streams.metrics.errors import QueryArgumentError
from streams.metrics.plans import Plan, Rows, Statement
from streams.metrics.window import iso, utc_day

QUALITY_DEFAULTS = {"since": "30d", "daily": "no"}

_SUMS = """
    sum(seen) AS seen, sumMap(invalid) AS invalid, sum(images) AS images, sum(filled) AS filled,
    sum(weight) AS weight, sum(routed) AS routed, sum(late) AS late, sum(latency_ms_sum) AS latency_ms_sum"""
_FIELDS = """,
    any(fields) AS field_names, sumForEachMerge(nonnull) AS counts"""
_SCALARS = ("seen", "images", "filled", "weight", "routed", "late", "latency_ms_sum")

EPOCH_TEXT = "1970-01-01T00:00:00Z"
"""`last_change` of rows whose records carried no commit time: no change known."""


def quality_plan(database: str, now: datetime, *, since: timedelta, daily: str) -> Plan:
    """Figures per resource of the days from `now − since` (UTC days, today included), summed or
    per day (`daily` yes), and each resource's newest change — per day, up to that day, with
    `daily` (the shaping carries it forward)."""
    if daily not in ("yes", "no"):
        raise QueryArgumentError("daily", "is not yes or no", expected="yes | no", actual=daily)
    per_day = daily == "yes"
    start = utc_day(now - since)
    day = "toString(day) AS on_day, " if per_day else ""  # not `AS day`: WHERE would read the text
    # Per field only for the scorecard, and only the fields some after-image lacked (its problems
    # name them; completeness itself is filled / weight): the trend's thousands of resource-days
    # need the sums alone.
    group = f"GROUP BY {'day, ' if per_day else ''}department, resource"
    inner = (
        f"SELECT {day}department, resource,{_SUMS}{'' if per_day else _FIELDS}\nFROM {database}.quality_1d\n"
    )
    inner += f"WHERE day >= {{start:Date}}\n{group}"
    if not per_day:
        inner = (
            "SELECT * EXCEPT (field_names, counts),\n"
            "    arrayFilter((f, n) -> n < images, field_names, counts) AS fields,\n"
            f"    arrayFilter(n -> n < images, counts) AS nonnull\nFROM ({inner}, field_set)"
        )
    figures = Statement(inner, {"start": start.isoformat()})
    newest = Statement(
        f"SELECT {day}resource, formatDateTime(max(last_change), '%Y-%m-%dT%H:%i:%SZ') AS last_change\n"
        f"FROM {database}.quality_1d\nGROUP BY {'day, ' if per_day else ''}resource"
    )

    def shape(results: Mapping[str, Rows]) -> dict[str, Any]:
        return shape_quality(results["figures"], results["newest"], start=start, now=now, daily=per_day)

    return Plan("quality", {"figures": figures, "newest": newest}, shape)


def shape_quality(figures: Rows, newest: Rows, *, start: Any, now: datetime, daily: bool) -> dict[str, Any]:
    """The report: `rows` (a resource's figures, with `day` when daily) and `last_changes`
    (resource → newest change; when daily, day → resource → newest change up to that day)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in figures:  # a resource has a row per field set it had (a catalog change starts one)
        key = (str(r["on_day"]) if daily else "", r["resource"])
        row = merged.get(key)
        if row is None:
            merged[key] = {
                **({"day": key[0]} if daily else {}),
                "department": r["department"],
                "resource": r["resource"],
                **{name: int(r[name]) for name in _SCALARS},
                "invalid": {str(k): int(v) for k, v in dict(r["invalid"] or {}).items() if int(v)},
                "nonnull": dict(zip(r.get("fields") or (), r.get("nonnull") or (), strict=False)),
            }
            continue
        for name in _SCALARS:
            row[name] += int(r[name])
        _add(row["invalid"], ((k, v) for k, v in dict(r["invalid"] or {}).items() if int(v)))
        _add(row["nonnull"], zip(r.get("fields") or (), r.get("nonnull") or (), strict=False))
    rows = [row for _, row in sorted(merged.items())]
    last: dict[str, Any]
    if daily:
        last = carried_forward(newest, start.isoformat())
    else:
        last = {r["resource"]: r["last_change"] for r in newest if r["last_change"] != EPOCH_TEXT}
    return {
        "query": "quality",
        "since": start.isoformat(),
        "until": iso(now),
        "daily": daily,
        "rows": rows,
        "last_changes": last,
    }


def _add(into: dict[str, int], counts: Any) -> None:
    for name, n in counts:
        into[str(name)] = into.get(str(name), 0) + int(n)


def carried_forward(newest: Rows, start: str) -> dict[str, dict[str, str]]:
    """day → resource → the newest change up to the end of that day: for `start` (what was known
    by then), and for each later day on which anything changed (a day missing holds what the day
    before it held)."""
    by_day: dict[str, dict[str, str]] = {}
    for r in newest:
        if r["last_change"] != EPOCH_TEXT:
            by_day.setdefault(str(r["on_day"]), {})[r["resource"]] = r["last_change"]
    running: dict[str, str] = {}
    out: dict[str, dict[str, str]] = {}
    for day in sorted(by_day):
        if day > start and start not in out:
            out[start] = dict(running)
        for resource, change in by_day[day].items():
            if change > running.get(resource, ""):
                running[resource] = change
        if day >= start:
            out[day] = dict(running)
    out.setdefault(start, dict(running))
    return dict(sorted(out.items()))


def feedback_plan(database: str, now: datetime, *, days: int = 2) -> Plan:
    """Each dead-letter check of each resource on each of the last `days` UTC days (today
    included): its count, the first and last minute it was seen, a sample key (masked by the
    router) — from the raw per-minute rows, which live 3 days."""
    start = utc_day(now) - timedelta(days=days - 1)
    problems = Statement(
        f"SELECT toString(toDate(minute)) AS day, department, resource, problem, sum(n) AS count,\n"
        f"    formatDateTime(min(minute), '%Y-%m-%dT%H:%i:00Z') AS first_seen,\n"
        f"    formatDateTime(max(minute), '%Y-%m-%dT%H:%i:00Z') AS last_seen,\n"
        f"    anyLast(samples[problem]) AS sample_key\n"
        f"FROM {database}.quality\n"
        f"ARRAY JOIN mapKeys(invalid) AS problem, mapValues(invalid) AS n\n"
        f"WHERE minute >= {{start:DateTime}} AND n > 0\n"
        f"GROUP BY day, department, resource, problem",
        {"start": f"{start.isoformat()} 00:00:00"},
    )

    def shape(results: Mapping[str, Rows]) -> dict[str, Any]:
        rows = sorted(results["problems"], key=lambda r: (r["day"], r["resource"], r["problem"]))
        return {"query": "feedback", "since": start.isoformat(), "until": iso(now), "rows": rows}

    return Plan("feedback", {"problems": problems}, shape)
