"""The metrics query set: pure SQL builders over the rollups, and the shaping of their rows into
the JSON reports the CLI prints and the HTTP API returns.

`plan(name, args, database=…, now=…)` parses string arguments (the same from the CLI and from a
query string) into a `Plan`: named statements plus a shaping function; `Plan.run(store)` executes
it. Nothing here reads the raw `calls` table; audit counts come from `audit_events` (one row per
audit record, few enough to read as they are).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.metrics.errors import QueryArgumentError
from streams.metrics.plans import FollowUp, Plan, Rows, Statement
from streams.metrics.quality_queries import QUALITY_DEFAULTS, quality_plan
from streams.metrics.window import Slice, Window, iso, parse_duration, sql_datetime, utc_day, window

QUERIES = ("calls", "summary", "reasons", "latency", "lag", "audit", "quality")
DIMENSIONS = ("district", "department", "resource", "subscriber")
AUDIT_DIMENSIONS = ("action", "subject", "target")
LEVELS = (0.5, 0.95, 0.99)
MAX_TOP = 100

# A district is a subscriber whose id is a 6-digit GB/T 2260 code (no braces: they would read
# as query parameters).
DISTRICT_FILTER = "match(subscriber, '^[0-9][0-9][0-9][0-9][0-9][0-9]$')"

_DEFAULTS: dict[str, dict[str, str]] = {
    "calls": {"by": "subscriber", "since": "24h"},
    "summary": {"days": "30", "top": "10"},
    "reasons": {"by": "department", "since": "24h"},
    "latency": {"by": "all", "since": "1h"},
    "lag": {"since": "15m"},
    "audit": {"by": "action", "since": "24h"},
    "quality": QUALITY_DEFAULTS,
}
_BY_CHOICES: dict[str, tuple[str, ...]] = {
    "calls": DIMENSIONS,
    "reasons": (*DIMENSIONS, "all"),
    # Not by resource: ~4,000 resources × 24 hours of small t-digests would merge every sample.
    "latency": ("all", "district", "department", "subscriber"),
    "audit": AUDIT_DIMENSIONS,
}


def prefer(projection: str) -> str:
    """The SETTINGS clause naming the projection a query is shaped for: ClickHouse would find it
    anyway, but weighing every projection of every part costs more than the read (40 → 7 ms)."""
    return f"\nSETTINGS preferred_optimize_projection_name = '{projection}'"


def projection_for(by: str) -> str:
    """The rollups' projection whose key is the branch key of `--by`."""
    return f"by_{branch_key(by)}"


def plan(name: str, args: Mapping[str, str], *, database: str, now: datetime) -> Plan:
    """The plan of query `name` with string arguments `args` (defaults filled in)."""
    if name not in QUERIES:
        raise QueryArgumentError(
            f"metrics query {name!r}", "does not exist", expected=" | ".join(QUERIES), actual=name
        )
    unknown = sorted(set(args) - set(_DEFAULTS[name]))
    if unknown:
        raise QueryArgumentError(
            f"metrics query {name!r}",
            "got unknown arguments",
            expected=", ".join(_DEFAULTS[name]),
            actual=", ".join(unknown),
        )
    values = {**_DEFAULTS[name], **{k: v for k, v in args.items() if v not in (None, "")}}
    if name in _BY_CHOICES and values["by"] not in _BY_CHOICES[name]:
        raise QueryArgumentError(
            "--by",
            "is not a dimension of this query",
            expected=" | ".join(_BY_CHOICES[name]),
            actual=values["by"],
        )
    if name == "summary":
        return summary_plan(
            database,
            now,
            days=_positive_int(values["days"], "--days"),
            top=_positive_int(values["top"], "--top", maximum=MAX_TOP),
        )
    if name == "quality":
        return quality_plan(
            database,
            now,
            since=parse_duration(values["since"]),
            daily=values["daily"],
            resources=values["resources"],
            until=values["until"],
        )
    if name == "audit":
        return audit_plan(database, now, since=parse_duration(values["since"]), by=values["by"])
    win = window(parse_duration(values["since"]), now)
    if name == "calls":
        return calls_plan(database, win, by=values["by"])
    if name == "reasons":
        return reasons_plan(database, win, by=values["by"])
    if name == "latency":
        return latency_plan(database, win, by=values["by"])
    return lag_plan(database, now, since=parse_duration(values["since"]))


def _positive_int(text: str, option: str, *, maximum: int = 100_000) -> int:
    if not str(text).isdigit() or not 0 < int(text) <= maximum:
        raise QueryArgumentError(
            option, "is out of range", expected=f"an integer from 1 to {maximum}", actual=repr(text)
        )
    return int(text)


# --- building blocks ---------------------------------------------------------------------------
# Each slice of a window is aggregated inside its own UNION ALL branch, grouped by one of the
# rollups' projection keys (subscriber, department or resource), so ClickHouse answers it from
# that projection; the outer query only adds up a few hundred rows per slice.
_BRANCH_KEY = {
    "district": "subscriber",
    "subscriber": "subscriber",
    "department": "department",
    "resource": "resource",
    "all": "subscriber",
}


def rollup_union(
    database: str,
    slices: Sequence[Slice],
    *,
    select: str,
    group_by: str,
    conditions: tuple[str, ...],
    params: dict[str, str | int | float],
    sums: tuple[tuple[str, str], ...] = (),
) -> str:
    """UNION ALL of one aggregating SELECT per slice (`Window.slices()`, or `signed_slices()`
    for sums): `select`, then each (column, alias) of `sums` summed as Int64, negated in a
    subtracted slice."""
    parts = []
    for i, piece in enumerate(slices):
        lo, hi = piece.bounds()
        params[f"lo{i}"], params[f"hi{i}"] = lo, hi
        column, kind = piece.column, piece.param_type
        time_range = f"{column} >= {{lo{i}:{kind}}} AND {column} < {{hi{i}:{kind}}}"
        sign = "-" if piece.sign < 0 else ""
        measures = "".join(f", {sign}toInt64(sum({c})) AS {alias}" for c, alias in sums)
        parts.append(
            f"SELECT {select}{measures} FROM {database}.{piece.table}"
            f" {where(time_range, *conditions)} GROUP BY {group_by}"
        )
    return "\n    UNION ALL\n    ".join(parts)


def netted(slices: Sequence[Slice], total: str) -> str:
    """The HAVING clause that drops keys netting to no records when a slice is subtracted.

    What must hold: every stored row counts at least one record (the router's rows do), so a key
    nets 0 records exactly when none of its rows lies in the window; with slices only added, a
    key is there exactly when it has rows, as before.
    """
    return f"\nHAVING {total} != 0" if any(s.sign < 0 for s in slices) else ""


def branch_key(by: str) -> str:
    """The column a branch groups by for `--by` (district: subscriber, filtered)."""
    return _BRANCH_KEY[by]


def district_only(by: str) -> str:
    """The branch condition that keeps districts only, for `--by district`."""
    return DISTRICT_FILTER if by == "district" else ""


def where(*conditions: str) -> str:
    kept = [c for c in conditions if c]
    return f"WHERE {' AND '.join(kept)}" if kept else ""


def _header(name: str, win: Window, **extra: Any) -> dict[str, Any]:
    # "tables": the rollups of the window's exact cover (`Window.slices`), the granularity its
    # figures are exact to; sums may read fewer of them (`Window.signed_slices`).
    return {"query": name, **win.to_dict(), "tables": sorted({s.table for s in win.slices()}), **extra}


def _int(value: Any) -> int:
    return int(value or 0)


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a large acyclic report is built.

    Each collection meanwhile would only scan the new dicts (all alive, none in a cycle) and move
    them to older generations, where they make the next full collection due: ~15 ms, every third
    4k-row calls report or so. Process-wide, so what must hold: it is re-enabled exactly when it was
    enabled on entry, whatever happens (another thread pausing meanwhile finds it off and leaves
    it to the first).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- calls ---------------------------------------------------------------------------------------
def calls_plan(database: str, win: Window, *, by: str) -> Plan:
    """Delivered records and bytes, withheld and dead-lettered records, per `by` and reason, read
    through the window's signed cover (sums: see window.signed_cover)."""
    params: dict[str, str | int | float] = {}
    slices = win.signed_slices()
    source = rollup_union(
        database,
        slices,
        select=f"{branch_key(by)} AS key, outcome AS kind, reason",
        sums=(("records", "n"), ("bytes", "b")),
        group_by="key, kind, reason",
        conditions=(district_only(by),),
        params=params,
    )
    # One row per (key, outcome, reason) of the whole window. The pivot to one entry per key and
    # its ordering stay in `shape_calls`: as SQL (groupArray, maps, ORDER BY) they cost ClickHouse
    # more than the Python they replace (bench/metrics/README.md).
    sql = (
        "SELECT key, toString(kind) AS outcome, reason, sum(n) AS records, sum(b) AS bytes\n"
        f"FROM (\n    {source}\n)\nGROUP BY key, kind, reason"
        + netted(slices, "records")
        + prefer(projection_for(by))
    )
    return Plan("calls", {"calls": Statement(sql, params)}, lambda r: shape_calls(r["calls"], by=by, win=win))


def shape_calls(rows: Rows, *, by: str, win: Window) -> dict[str, Any]:
    """One entry per `by` key: delivered/bytes/withheld/dead_letter and per-outcome reasons,
    ordered by delivered, withheld and dead letters (descending), then key.

    What must hold: `rows` has one row per (key, outcome, reason), with str keys and int counts
    (as both stores return them). This runs once per row of a ~6k-row answer: keep it lean.
    """
    with collection_paused():
        return _calls_report(rows, by=by, win=win)


def _calls_report(rows: Rows, *, by: str, win: Window) -> dict[str, Any]:
    entries: dict[str, dict[str, Any]] = {}
    get = entries.get
    for row in rows:
        key, outcome, records = row["key"], row["outcome"], row["records"]
        entry = get(key)
        if entry is None:
            # The reasons' keys are exactly OUTCOMES (a literal: built ~4k times per answer).
            reasons: dict[str, dict[str, int]] = {"delivered": {}, "withheld": {}, "dead_letter": {}}
            entry = entries[key] = {
                by: key,
                "delivered": 0,
                "bytes": 0,
                "withheld": 0,
                "dead_letter": 0,
                "reasons": reasons,
            }
        entry[outcome] += records
        entry["reasons"][outcome][row["reason"]] = records
        if outcome == "delivered":
            entry["bytes"] += row["bytes"]
    ordered = sorted(
        entries.values(), key=lambda e: (-e["delivered"], -e["withheld"], -e["dead_letter"], e[by])
    )
    totals = {k: sum(e[k] for e in ordered) for k in ("delivered", "bytes", "withheld", "dead_letter")}
    return {**_header("calls", win, by=by), "totals": totals, "rows": ordered}


# --- summary -------------------------------------------------------------------------------------
def summary_plan(database: str, now: datetime, *, days: int, top: int) -> Plan:
    """Calls and bytes of every day on record (one row per day: the cumulative total, the first
    day and the daily series come from it), and the top resources of the last `days` days."""
    first = utc_day(now) - timedelta(days=days)
    delivered = "outcome = 'delivered'"
    since = {"first": first.isoformat()}

    def reach(results: Mapping[str, Rows]) -> Statement | None:
        # Subscribers of the top resources only: a distinct count for every resource of the
        # period would cost more than the rest of the summary together.
        if not results["top"]:
            return None
        params: dict[str, str | int | float] = dict(since)
        for i, row in enumerate(results["top"]):
            params[f"d{i}"], params[f"r{i}"] = str(row["department"]), str(row["resource"])
        departments = ", ".join(f"{{d{i}:String}}" for i in range(len(results["top"])))
        resources = ", ".join(f"{{r{i}:String}}" for i in range(len(results["top"])))
        return Statement(
            "SELECT resource, uniqExact(subscriber) AS subscribers\n"
            f"FROM {database}.calls_1d WHERE {delivered} AND day >= {{first:Date}}"
            f" AND department IN ({departments}) AND resource IN ({resources})\nGROUP BY resource",
            params,
        )

    statements: dict[str, Statement | FollowUp] = {
        "days": Statement(
            "SELECT day, sum(records) AS calls, sum(bytes) AS bytes\n"
            f"FROM {database}.calls_1d WHERE {delivered}\nGROUP BY day ORDER BY day" + prefer("by_subscriber")
        ),
        "top": Statement(
            "SELECT resource, department, sum(records) AS calls, sum(bytes) AS bytes\n"
            f"FROM {database}.calls_1d WHERE {delivered} AND day >= {{first:Date}}\n"
            f"GROUP BY department, resource ORDER BY calls DESC, resource LIMIT {int(top)}"
            + prefer("by_resource"),
            dict(since),
        ),
        "reach": reach,
    }
    return Plan("summary", statements, lambda r: shape_summary(r, now=now, days=days))


def shape_summary(results: Mapping[str, Rows], *, now: datetime, days: int) -> dict[str, Any]:
    today = utc_day(now)
    first_period_day = today - timedelta(days=days)
    every_day: list[dict[str, Any]] = [
        {"day": str(r["day"]), "calls": _int(r["calls"]), "bytes": _int(r["bytes"])} for r in results["days"]
    ]
    # A day on record has delivered calls (a day of only withheld records counts none).
    every_day = [d for d in every_day if d["calls"] > 0]
    has_data = bool(every_day)
    first_day = every_day[0]["day"] if has_data else None
    cumulative = {"calls": sum(d["calls"] for d in every_day), "bytes": sum(d["bytes"] for d in every_day)}
    daily = [d for d in every_day if d["day"] >= first_period_day.isoformat()]
    reach = {str(r["resource"]): _int(r["subscribers"]) for r in results.get("reach", [])}
    # The average runs over complete days since data began: a bus started three days ago has a
    # three-day average, not a 30-day one diluted by days it did not exist.
    start = max(first_period_day.isoformat(), first_day or today.isoformat())
    complete = (today - datetime.fromisoformat(start).date()).days if has_data else 0
    in_period = [d for d in daily if start <= d["day"] < today.isoformat()]
    average = None
    if complete > 0:
        average = {
            "calls": round(sum(d["calls"] for d in in_period) / complete, 1),
            "bytes": round(sum(d["bytes"] for d in in_period) / complete, 1),
            "days": complete,
        }
    today_row = next((d for d in daily if d["day"] == today.isoformat()), {"calls": 0, "bytes": 0})
    return {
        "query": "summary",
        "days": days,
        "from": first_period_day.isoformat(),
        "today": {
            "day": today.isoformat(),
            "calls": today_row["calls"],
            "bytes": today_row["bytes"],
            "partial_until": iso(now),
        },
        "daily_average": average,
        "cumulative": {**cumulative, "since": first_day},
        "daily": daily,
        "top_resources": [
            {
                "resource": str(r["resource"]),
                "department": str(r["department"]),
                "calls": _int(r["calls"]),
                "bytes": _int(r["bytes"]),
                "subscribers": reach.get(str(r["resource"]), 0),
            }
            for r in results["top"]
        ],
    }


# --- reasons -------------------------------------------------------------------------------------
def reasons_plan(database: str, win: Window, *, by: str) -> Plan:
    """Withheld and dead-lettered records by outcome, reason and `by` (default: the department
    that answers for them)."""
    params: dict[str, str | int | float] = {}
    slices = win.signed_slices()
    select = f"{branch_key(by)} AS key, toString(outcome) AS kind, reason"
    conditions = ("outcome != 'delivered'", district_only(by))
    source = rollup_union(
        database,
        slices,
        select=select,
        sums=(("records", "n"),),
        group_by="key, kind, reason",
        conditions=conditions,
        params=params,
    )
    key = "'all'" if by == "all" else "key"
    sql = (
        f"SELECT kind AS outcome, reason, {key} AS k, sum(n) AS records\n"
        f"FROM (\n    {source}\n)\nGROUP BY outcome, reason, k{netted(slices, 'records')}"
        "\nORDER BY records DESC, outcome, reason, k" + prefer(projection_for(by))
    )
    return Plan(
        "reasons", {"reasons": Statement(sql, params)}, lambda r: shape_reasons(r["reasons"], by=by, win=win)
    )


def shape_reasons(rows: Rows, *, by: str, win: Window) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for r in rows:
        entry: dict[str, Any] = {"outcome": str(r["outcome"]), "reason": str(r["reason"])}
        if by != "all":
            entry[by] = str(r["k"])
        entry["records"] = _int(r["records"])
        out.append(entry)
    by_reason: dict[str, dict[str, int]] = {"withheld": {}, "dead_letter": {}}
    for r in out:
        bucket = by_reason.setdefault(r["outcome"], {})
        bucket[r["reason"]] = bucket.get(r["reason"], 0) + r["records"]
    totals = {o: sum(v.values()) for o, v in by_reason.items()}
    return {**_header("reasons", win, by=by), "totals": totals, "by_reason": by_reason, "rows": out}


# --- latency -------------------------------------------------------------------------------------
LATENCY_FROM_HOUR = timedelta(hours=6)
"""Latency windows at least this long start on the hour (percentiles, not counts)."""


def latency_plan(database: str, win: Window, *, by: str) -> Plan:
    """Source commit → delivered latency p50/p95/p99 of delivered records, per `by`."""
    if win.requested >= LATENCY_FROM_HOUR:
        win = win.from_hour()
    params: dict[str, str | int | float] = {}
    levels = ", ".join(str(q) for q in LEVELS)
    state = f"quantilesTDigestWeightedMergeState({levels})(latency_ms)"
    select = f"{branch_key(by)} AS key, sum(records) AS n, {state} AS s"
    conditions = ("outcome = 'delivered'", district_only(by))
    source = rollup_union(
        database, win.slices(), select=select, group_by="key", conditions=conditions, params=params
    )
    key, group = ("'all'", "") if by == "all" else ("key", "GROUP BY k ")
    sql = (
        f"SELECT {key} AS k, sum(n) AS records, quantilesTDigestWeightedMerge({levels})(s) AS q\n"
        f"FROM (\n    {source}\n)\n{group}ORDER BY records DESC, k" + prefer(projection_for(by))
    )
    return Plan(
        "latency", {"latency": Statement(sql, params)}, lambda r: shape_latency(r["latency"], by=by, win=win)
    )


def shape_latency(rows: Rows, *, by: str, win: Window) -> dict[str, Any]:
    out = []
    for r in rows:
        q = list(r.get("q") or [None] * len(LEVELS))
        entry: dict[str, Any] = {} if by == "all" else {by: str(r["k"])}
        entry["records"] = _int(r["records"])
        for level, value in zip(LEVELS, q, strict=True):
            entry[f"p{round(level * 100)}_ms"] = None if value is None else round(float(value), 1)
        out.append(entry)
    return {**_header("latency", win, by=by), "rows": out}


# --- lag -----------------------------------------------------------------------------------------
def lag_plan(database: str, now: datetime, *, since: timedelta) -> Plan:
    """Per subscriber and consumer group: the latest sampled committed and end offsets summed over
    its partitions, the lag (end − committed), and what it consumed within the window."""
    start = now.astimezone(UTC) - since
    sql = (
        "SELECT subscriber, group_id, uniqExact(topic) AS topics, count() AS partitions,"
        " sum(last_end) AS end_offset, sum(greatest(last_committed, 0)) AS committed,"
        " sum(greatest(last_end - greatest(last_committed, 0), 0)) AS lag, sum(consumed) AS consumed,"
        " toString(max(last_ts)) AS sampled_at, countIf(last_committed < 0) AS uncommitted\n"
        "FROM (\n"
        "    SELECT subscriber, group_id, topic, partition_id,"
        " argMax(committed, ts) AS last_committed, argMax(end_offset, ts) AS last_end, max(ts) AS last_ts,"
        " maxIf(committed, committed >= 0) - minIf(committed, committed >= 0) AS consumed\n"
        f"    FROM {database}.positions WHERE ts >= {{since:DateTime64(3, 'UTC')}}\n"
        "    GROUP BY subscriber, group_id, topic, partition_id\n"
        ")\nGROUP BY subscriber, group_id ORDER BY lag DESC, subscriber, group_id"
    )
    statement = Statement(sql, {"since": sql_datetime(start)})
    return Plan("lag", {"lag": statement}, lambda r: shape_lag(r["lag"], start=start, now=now))


def shape_lag(rows: Rows, *, start: datetime, now: datetime) -> dict[str, Any]:
    out = [
        {
            "subscriber": str(r["subscriber"]),
            "group": str(r["group_id"]),
            "topics": _int(r["topics"]),
            "partitions": _int(r["partitions"]),
            "committed": _int(r["committed"]),
            "end": _int(r["end_offset"]),
            "lag": _int(r["lag"]),
            "consumed": _int(r["consumed"]),
            "uncommitted_partitions": _int(r["uncommitted"]),
            "sampled_at": _iso_text(r["sampled_at"]),
        }
        for r in rows
    ]
    return {"query": "lag", "since": iso(start), "until": iso(now), "rows": out}


# --- audit ---------------------------------------------------------------------------------------
def audit_plan(database: str, now: datetime, *, since: timedelta, by: str) -> Plan:
    """Audit events whose `at` is within the last `since`: their `count` summed (records withheld,
    1 per ACL or credential change) and the number of audit records, per `by` and action. FINAL:
    an event ingested twice is one row (the table is a ReplacingMergeTree on its source offset)."""
    if by not in AUDIT_DIMENSIONS:  # spliced into the SQL: only a known column
        raise QueryArgumentError(
            "--by", "is not a dimension of this query", expected=" | ".join(AUDIT_DIMENSIONS), actual=by
        )
    start = now.astimezone(UTC) - since
    key = "action" if by == "action" else f"{by}, action"
    sql = (
        f"SELECT {by} AS key, action, toInt64(sum(count)) AS n, toInt64(count()) AS events\n"
        f"FROM {database}.audit_events FINAL WHERE ts >= {{since:DateTime64(3, 'UTC')}}\n"
        f"GROUP BY {key}"
    )
    statement = Statement(sql, {"since": sql_datetime(start)})
    return Plan("audit", {"audit": statement}, lambda r: shape_audit(r["audit"], by=by, start=start, now=now))


def shape_audit(rows: Rows, *, by: str, start: datetime, now: datetime) -> dict[str, Any]:
    """One entry per `by` key: `count` (the events' counts summed), `events` (audit records) and
    `actions` (count per action), most counted first, then by key."""
    entries: dict[str, dict[str, Any]] = {}
    for r in rows:
        key, action, n = str(r["key"]), str(r["action"]), _int(r["n"])
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = {by: key, "count": 0, "events": 0, "actions": {}}
        entry["count"] += n
        entry["events"] += _int(r["events"])
        entry["actions"][action] = entry["actions"].get(action, 0) + n
    ordered = sorted(entries.values(), key=lambda e: (-e["count"], e[by]))
    for entry in ordered:
        entry["actions"] = dict(sorted(entry["actions"].items(), key=lambda kv: (-kv[1], kv[0])))
    totals = {"count": sum(e["count"] for e in ordered), "events": sum(e["events"] for e in ordered)}
    return {
        "query": "audit",
        "by": by,
        "since": iso(start),
        "until": iso(now),
        "totals": totals,
        "rows": ordered,
    }


def _iso_text(value: Any) -> str:
    """ClickHouse's 'YYYY-MM-DD hh:mm:ss[.fff]' (UTC) as ISO 8601 with Z."""
    text = str(value)
    return text.replace(" ", "T") + "Z" if text and not text.endswith("Z") else text
