"""The quality figures' part of the metrics benchmark: a city's days of `quality_1d` rows (every
resource changed every day, 15 fields each), the last 24 h also as raw per-minute rows (the
baseline), and the scorecard's query timed on both."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from streams.metrics.chdb_store import ChdbStore
from streams.metrics.window import sql_datetime

FIELDS = 15
"""Fields per resource (the seeds' resources have 10–20)."""
OPTIONAL = 5
"""Of them, optional fields some records leave empty (the required ten are always filled)."""
ACTIVE_PER_MINUTE = 500
"""Resources changed in one minute (10.9 M calls a day spread over 4,154 resources)."""

QUALITY_QUERIES: list[tuple[str, str, dict[str, str]]] = [
    ("quality --since 30d (scorecard)", "quality", {"since": "30d", "daily": "no"}),
    ("quality --since 30d --daily (trend)", "quality", {"since": "30d", "daily": "yes"}),
    ("quality --since 1d", "quality", {"since": "1d", "daily": "no"}),
]


FIELD_NAMES = f"arrayMap(i -> concat('f', toString(i)), range({FIELDS}))"


def _figures(seen: str, *, rollup: bool) -> str:
    """SELECT columns of a row's figures, `number` being the resource's index (in the rollup's
    form with `rollup`: the field set's hash, and the per-field counts as a sumForEach state)."""
    counts = (
        f"arrayMap(i -> toUInt64(greatest(0, {seen} - if(i >= {FIELDS - OPTIONAL}, (number + i) % 7, 0))),"
        f" range({FIELDS}))"
    )
    nonnull = f"initializeAggregation('sumForEachState', {counts})" if rollup else counts
    field_set = f"cityHash64({FIELD_NAMES}) AS field_set, " if rollup else ""
    return (
        f"toUInt64({seen}) AS seen,"
        " map('code', toUInt64(number % 3), 'required', toUInt64(number % 2)) AS invalid,"
        f" toUInt64({seen}) AS images, {field_set}{FIELD_NAMES} AS fields, {nonnull} AS nonnull,"
        f" toUInt64({seen} * {FIELDS + 5} - number % 9) AS filled, toUInt64({seen} * {FIELDS + 5}) AS weight,"
        f" toUInt64({seen}) AS routed, toUInt64(number % 5) AS late,"
        f" toUInt64({seen} * 1200) AS latency_ms_sum,"
        f" toUInt64({seen}) AS refs, "
        + (
            "toUInt64(number % 4) AS mismatched"
            if rollup
            else "map('reference:f1', toUInt64(number % 4)) AS unmatched"
        )
    )


def load_quality(
    store: ChdbStore, db: str, days: list[datetime], resources: int, now: datetime
) -> dict[str, Any]:
    """Per-day rows for every resource and day (as the view makes them), then the last 24 h as raw
    rows with the view detached (the rollup already holds them). Returns the loads."""
    t0 = time.perf_counter()
    per_resource = 10_900_000 // resources
    figures = _figures(str(per_resource), rollup=True)
    for day in days:
        store.command(f"""
            INSERT INTO {db}.quality_1d
                (day, department, resource, seen, invalid, images, field_set, fields, nonnull, filled,
                 weight, routed, late, latency_ms_sum, refs, mismatched, last_change)
            SELECT toDate('{day.date().isoformat()}') AS day,
                concat('dept', toString(number % 79)) AS department,
                concat(department, '.res', toString(number)) AS resource, {figures},
                toDateTime64('{sql_datetime(day)}', 3, 'UTC') + (number % 86000) AS last_change
            FROM numbers({resources})""")
    daily = {"rows": len(days) * resources, "days": len(days), "seconds": round(time.perf_counter() - t0, 1)}
    t0 = time.perf_counter()
    start = now - timedelta(days=1)
    rows = 1440 * ACTIVE_PER_MINUTE
    store.command(f"DETACH TABLE {db}.quality_1d_mv")
    try:
        store.command(f"""
            INSERT INTO {db}.quality
                (minute, department, resource, seen, invalid, images, fields, nonnull, filled, weight,
                 routed, late, latency_ms_sum, refs, unmatched, last_change)
            SELECT toDateTime('{sql_datetime(start)}', 'UTC') + 60 * intDiv(n, {ACTIVE_PER_MINUTE}) AS minute,
                concat('dept', toString(number % 79)) AS department,
                concat(department, '.res', toString(number)) AS resource, {_figures("5", rollup=False)},
                toDateTime64(minute, 3, 'UTC') AS last_change
            FROM (SELECT number AS n, cityHash64(number) % {resources} AS number FROM numbers({rows}))""")
    finally:
        store.command(f"ATTACH TABLE {db}.quality_1d_mv")
    raw = {"rows": rows, "days": 1, "seconds": round(time.perf_counter() - t0, 1)}
    return {"quality_1d": daily, "quality (raw)": raw}


def raw_quality_sql(db: str, now: datetime) -> str:
    """The 24 h scorecard figures summed from the raw per-minute rows (the baseline)."""
    since = sql_datetime(now - timedelta(days=1))
    return (
        f"SELECT department, resource, sum(seen), sumMap(invalid), sum(images), any(fields),"
        f" sumForEach(nonnull),"
        f" sum(routed), sum(late), sum(latency_ms_sum), max(last_change)"
        f" FROM {db}.quality WHERE minute >= '{since}' GROUP BY department, resource, cityHash64(fields)"
    )
