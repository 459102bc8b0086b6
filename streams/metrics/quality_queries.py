"""The `quality` metrics query: each resource's quality figures over the last days (in all, or per
day) and the newest source change ever seen of each, from the daily rollup `quality_1d`.

The figures are sums; the scorecard (`streams.quality_score`) turns them into indicators with the
catalog, which the store does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from streams.metrics.errors import QueryArgumentError
from streams.metrics.plans import Plan, Rows, Statement
from streams.metrics.window import iso, utc_day

QUALITY_DEFAULTS = {"since": "30d", "daily": "no", "resources": "", "until": ""}

_SUMS = """
    sum(seen) AS seen, sumMap(invalid) AS invalid, sum(images) AS images, sum(filled) AS filled,
    sum(weight) AS weight, sum(routed) AS routed, sum(late) AS late, sum(latency_ms_sum) AS latency_ms_sum,
    sum(refs) AS refs, sum(mismatched) AS mismatched"""
_FIELDS = """,
    any(fields) AS field_names, sumForEachMerge(nonnull) AS counts"""
_SCALARS = ("seen", "images", "filled", "weight", "routed", "late", "latency_ms_sum", "refs", "mismatched")

EPOCH_TEXT = "1970-01-01T00:00:00Z"
"""`last_change` of rows whose records carried no commit time: no change known."""


def quality_plan(
    database: str, now: datetime, *, since: timedelta, daily: str, resources: str = "", until: str = ""
) -> Plan:
    """Figures per resource of the days from `now − since` (UTC days, today included) up to
    `until` (a day, YYYY-MM-DD; default today), summed with each resource's newest change up to
    then — or, with `daily` yes, the trend: per resource, its figures day by day and, per day, the
    newest change up to that day. `resources`: only these (comma-separated ids)."""
    if daily not in ("yes", "no"):
        raise QueryArgumentError("daily", "is not yes or no", expected="yes | no", actual=daily)
    start = utc_day(now - since)
    conditions = ["day >= {start:Date}"]
    params: dict[str, str | int | float] = {"start": start.isoformat()}
    if resources:
        conditions.append("has(splitByChar(',', {resources:String}), resource)")
        params["resources"] = resources
    if until:
        try:
            date.fromisoformat(until)
        except ValueError:
            raise QueryArgumentError("until", "is not a day", expected="YYYY-MM-DD", actual=until) from None
        conditions.append("day <= {until:Date}")
        params["until"] = until
    where = " AND ".join(conditions)
    known = " AND ".join(c for c in conditions if not c.startswith("day >="))  # changes of any day before
    newest_where = f"\nWHERE {known}" if known else ""
    if daily == "yes":
        return _trend_plan(database, now, start, where, newest_where, params)
    # Per field, only the fields some after-image lacked (the problems name them; completeness
    # itself is filled / weight).
    figures = Statement(
        "SELECT * EXCEPT (field_names, counts),\n"
        "    arrayFilter((f, n) -> n < images, field_names, counts) AS fields,\n"
        "    arrayFilter(n -> n < images, counts) AS nonnull\n"
        f"FROM (SELECT department, resource,{_SUMS}{_FIELDS}\nFROM {database}.quality_1d\n"
        f"WHERE {where}\nGROUP BY department, resource, field_set)",
        params,
    )
    newest = Statement(
        "SELECT resource, formatDateTime(max(last_change), '%Y-%m-%dT%H:%i:%SZ') AS last_change\n"
        f"FROM {database}.quality_1d{newest_where}\nGROUP BY resource",
        params,
    )

    def shape(results: Mapping[str, Rows]) -> dict[str, Any]:
        return shape_quality(results["figures"], results["newest"], start=start, now=now)

    return Plan("quality", {"figures": figures, "newest": newest}, shape)


TREND = ("seen", "failed", "images", "filled", "weight", "routed", "late", "refs", "mismatched")
"""The trend's figures per resource and day (`failed`: the dead-lettered records of all checks;
`mismatched`: the references of all rules not found)."""


def _trend_plan(
    database: str, now: datetime, start: date, where: str, newest_where: str, params: dict[str, Any]
) -> Plan:
    """One row per resource with its days and their figures as parallel arrays: a month of a
    city's resources is ~4,000 rows of numbers, not ~125,000 rows of named figures."""
    sums = ", ".join(f"sum({n}) AS {n}" for n in TREND if n != "failed")
    arrays = ", ".join(f"groupArray({n}) AS {n}" for n in TREND)
    figures = Statement(
        f"SELECT department, resource, groupArray(toString(d)) AS days, {arrays}\n"
        f"FROM (SELECT day AS d, department, resource, {sums},\n"
        f"    sum(arraySum(mapValues(invalid))) AS failed\n"
        f"  FROM {database}.quality_1d\n  WHERE {where}\n  GROUP BY d, department, resource)\n"
        "GROUP BY department, resource",
        params,
    )
    newest = Statement(
        "SELECT toString(day) AS on_day, resource,"
        " formatDateTime(max(last_change), '%Y-%m-%dT%H:%i:%SZ') AS last_change\n"
        f"FROM {database}.quality_1d{newest_where}\nGROUP BY day, resource",
        params,
    )

    def shape(results: Mapping[str, Rows]) -> dict[str, Any]:
        series = sorted(
            (
                {
                    "department": r["department"],
                    "resource": r["resource"],
                    "days": list(r["days"]),
                    **{n: [int(v) for v in r[n]] for n in TREND},
                }
                for r in results["figures"]
            ),
            key=lambda r: r["resource"],
        )
        return {
            "query": "quality",
            "since": start.isoformat(),
            "until": iso(now),
            "daily": True,
            "series": series,
            "last_changes": carried_forward(results["newest"], start.isoformat()),
        }

    return Plan("quality", {"figures": figures, "newest": newest}, shape)


def shape_quality(figures: Rows, newest: Rows, *, start: Any, now: datetime) -> dict[str, Any]:
    """The report: `rows` (a resource's figures over the window) and `last_changes` (resource →
    its newest change)."""
    merged: dict[str, dict[str, Any]] = {}
    for r in figures:  # a resource has a row per field set it had (a catalog change starts one)
        row = merged.get(r["resource"])
        if row is None:
            merged[r["resource"]] = {
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
    return {
        "query": "quality",
        "since": start.isoformat(),
        "until": iso(now),
        "daily": False,
        "rows": [row for _, row in sorted(merged.items())],
        "last_changes": {r["resource"]: r["last_change"] for r in newest if r["last_change"] != EPOCH_TEXT},
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
    """Each dead-letter check and consistency rule (`reference:<field>`) of each resource on each
    of the last `days` UTC days (today included) with a problem: its count, the first and last
    minute it was seen, a sample key (masked by the router) — from the raw per-minute rows, which
    live 3 days."""
    start = utc_day(now) - timedelta(days=days - 1)
    problems = Statement(
        f"SELECT toString(toDate(minute)) AS day, department, resource, problem, sum(n) AS count,\n"
        f"    formatDateTime(min(minute), '%Y-%m-%dT%H:%i:00Z') AS first_seen,\n"
        f"    formatDateTime(max(minute), '%Y-%m-%dT%H:%i:00Z') AS last_seen,\n"
        f"    anyLast(samples[problem]) AS sample_key\n"
        f"FROM {database}.quality\n"
        f"ARRAY JOIN mapKeys(mapAdd(invalid, unmatched)) AS problem,\n"
        f"    mapValues(mapAdd(invalid, unmatched)) AS n\n"
        f"WHERE minute >= {{start:DateTime}} AND n > 0\n"
        f"GROUP BY day, department, resource, problem",
        {"start": f"{start.isoformat()} 00:00:00"},
    )

    def shape(results: Mapping[str, Rows]) -> dict[str, Any]:
        rows = sorted(results["problems"], key=lambda r: (r["day"], r["resource"], r["problem"]))
        return {"query": "feedback", "since": start.isoformat(), "until": iso(now), "rows": rows}

    return Plan("feedback", {"problems": problems}, shape)
