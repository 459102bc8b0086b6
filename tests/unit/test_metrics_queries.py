"""The metrics query set without a database: windows and their cover by the rollups, the SQL each
query sends (tables, projections, parameters, filters), and the shaping of result rows."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.metrics import window as w
from streams.metrics.errors import QueryArgumentError
from streams.metrics.queries import (
    DISTRICT_FILTER,
    Plan,
    Statement,
    plan,
    shape_calls,
    shape_lag,
    shape_latency,
    shape_reasons,
    shape_summary,
)
from streams.metrics.rows import OUTCOMES

NOW = datetime(2026, 3, 10, 16, 7, 30, tzinfo=UTC)
DDL = Path(__file__).resolve().parents[2] / "streams" / "metrics" / "ddl" / "001_calls.sql"


def _statements(p: Plan) -> dict[str, Statement]:
    return {k: s for k, s in p.statements.items() if isinstance(s, Statement)}


# --- durations and windows -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        (" 3 h ", timedelta(hours=3)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert w.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0m", "-1h", "1y", "1.5h", "24 hours"])
def test_bad_durations_name_the_option_and_the_form(text: str) -> None:
    with pytest.raises(QueryArgumentError) as err:
        w.parse_duration(text, option="--since")
    assert err.value.subject == "--since"
    assert "15m, 24h, 30d" in (err.value.expected or "")


def test_window_ends_after_the_current_minute_and_is_minute_exact() -> None:
    win = w.window(timedelta(hours=24), NOW)
    assert win.until == datetime(2026, 3, 10, 16, 8, tzinfo=UTC)
    assert win.since == datetime(2026, 3, 9, 16, 8, tzinfo=UTC)


def test_24h_reads_minutes_then_hours_then_today_whole() -> None:
    slices = w.window(timedelta(hours=24), NOW).slices()
    assert [(s.table, s.lo, s.hi) for s in slices] == [
        ("calls_1m", datetime(2026, 3, 9, 16, 8, tzinfo=UTC), datetime(2026, 3, 9, 17, tzinfo=UTC)),
        ("calls_1h", datetime(2026, 3, 9, 17, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
        ("calls_1d", datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC)),
    ]
    assert slices[-1].bounds() == ("2026-03-10", "2026-03-11")
    assert slices[0].bounds() == ("2026-03-09 16:08:00", "2026-03-09 17:00:00")


def test_short_window_reads_minutes_only() -> None:
    slices = w.window(timedelta(minutes=5), NOW).slices()
    assert [(s.table, s.lo.minute, s.hi.minute) for s in slices] == [("calls_1m", 3, 8)]


def test_one_hour_reads_this_hour_whole() -> None:
    slices = w.window(timedelta(hours=1), NOW).slices()
    assert [(s.table, s.lo.hour, s.lo.minute, s.hi.hour) for s in slices] == [
        ("calls_1m", 15, 8, 16),
        ("calls_1h", 16, 0, 17),
    ]


def test_beyond_minute_retention_the_start_moves_to_the_hour_and_beyond_hour_retention_to_the_day() -> None:
    thirty = w.window(timedelta(days=30), NOW)
    assert thirty.since == datetime(2026, 2, 8, 16, tzinfo=UTC)
    assert {s.table for s in thirty.slices()} == {"calls_1h", "calls_1d"}
    year = w.window(timedelta(days=365), NOW)
    assert year.since == datetime(2025, 3, 10, tzinfo=UTC)
    assert [s.table for s in year.slices()] == ["calls_1d"]


@pytest.mark.parametrize("minutes", [1, 59, 60, 61, 23 * 60 + 59, 24 * 60, 2 * 24 * 60 + 7])
@pytest.mark.parametrize(
    "now", [NOW, datetime(2026, 3, 10, 0, 1, 5, tzinfo=UTC), datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC)]
)
def test_slices_tile_the_window_without_gaps_or_overlaps(minutes: int, now: datetime) -> None:
    win = w.window(timedelta(minutes=minutes), now)
    slices = win.slices()
    assert slices[0].lo == win.since
    for left, right in itertools.pairwise(slices):
        assert left.hi == right.lo
    assert slices[-1].hi >= win.until
    for s in slices:
        step = {"calls_1m": w.MINUTE, "calls_1h": w.HOUR, "calls_1d": w.DAY}[s.table]
        assert w.floor(s.lo, step) == s.lo and w.floor(s.hi, step) == s.hi
    # Only the bucket holding the present may stick out past `until`.
    last_step = {"calls_1m": w.MINUTE, "calls_1h": w.HOUR, "calls_1d": w.DAY}[slices[-1].table]
    assert slices[-1].hi - win.until < last_step


def test_retention_constants_match_the_ddl_ttls() -> None:
    text = DDL.read_text(encoding="utf-8")
    assert f"TTL minute + INTERVAL {w.RAW_TTL_DAYS} DAY" in text
    assert f"TTL minute + INTERVAL {w.MINUTE_TTL_DAYS} DAY" in text
    assert f"TTL hour + INTERVAL {w.HOUR_TTL_DAYS} DAY" in text


# --- plans: the SQL ----------------------------------------------------------------------------
def test_calls_by_subscriber_reads_only_rollups_through_their_projection() -> None:
    p = plan("calls", {"by": "subscriber", "since": "24h"}, database="metrics", now=NOW)
    (statement,) = _statements(p).values()
    sql = statement.sql
    assert "metrics.calls_1m" in sql and "metrics.calls_1h" in sql and "metrics.calls_1d" in sql
    assert not re.search(r"metrics\.calls\b(?!_)", sql), "the raw table is never queried"
    assert sql.count("UNION ALL") == 2
    # Aggregated per slice (projection-friendly), then once over the window; nothing else.
    assert sql.count("GROUP BY key, kind, reason") == 4
    assert "ORDER BY" not in sql and "groupArray" not in sql, "the pivot and the order are shape_calls's"
    assert sql.rstrip().endswith("SETTINGS preferred_optimize_projection_name = 'by_subscriber'")
    # The signed cover at 16:07: hour 16 yesterday less its first 8 minutes, the rest of
    # yesterday's hours, today (test_metrics_window.py); counts and bytes summed as Int64.
    assert statement.params == {
        "lo0": "2026-03-09 16:00:00",
        "hi0": "2026-03-09 16:08:00",
        "lo1": "2026-03-09 16:00:00",
        "hi1": "2026-03-10 00:00:00",
        "lo2": "2026-03-10",
        "hi2": "2026-03-11",
    }
    branches = sql.split("UNION ALL")
    assert "-toInt64(sum(records)) AS n, -toInt64(sum(bytes)) AS b FROM metrics.calls_1m" in branches[0]
    assert all(" toInt64(sum(records)) AS n, toInt64(sum(bytes)) AS b" in b for b in branches[1:])
    assert "\nHAVING records != 0\n" in sql, "a key netting to no records had no rows in the window"
    assert "{lo2:Date}" in sql and "{lo0:DateTime('UTC')}" in sql
    assert DISTRICT_FILTER not in sql


def test_sums_without_a_subtracted_slice_keep_every_key() -> None:
    for name in ("calls", "reasons"):
        sql = _statements(plan(name, {"since": "5m"}, database="sharebus", now=NOW))[name].sql
        assert "HAVING" not in sql and "-toInt64" not in sql


def test_by_district_filters_six_digit_subscribers_in_every_slice() -> None:
    p = plan("calls", {"by": "district"}, database="sharebus", now=NOW)
    sql = _statements(p)["calls"].sql
    assert sql.count(DISTRICT_FILTER) == 3
    assert "{" not in DISTRICT_FILTER, "braces would read as a query parameter"
    assert "by_subscriber" in sql


@pytest.mark.parametrize(("by", "projection"), [("department", "by_department"), ("resource", "by_resource")])
def test_each_dimension_names_its_projection(by: str, projection: str) -> None:
    sql = _statements(plan("calls", {"by": by}, database="sharebus", now=NOW))["calls"].sql
    assert f"SELECT {by} AS key" in sql and f"'{projection}'" in sql


def test_reasons_exclude_deliveries_and_latency_includes_only_them() -> None:
    reasons = _statements(plan("reasons", {}, database="sharebus", now=NOW))["reasons"].sql
    assert reasons.count("outcome != 'delivered'") == 3 and "by_department" in reasons
    latency = _statements(plan("latency", {"since": "1h"}, database="sharebus", now=NOW))["latency"].sql
    assert latency.count("outcome = 'delivered'") == 2
    assert "quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(latency_ms)" in latency
    assert "quantilesTDigestWeightedMerge(0.5, 0.95, 0.99)(s)" in latency
    assert "GROUP BY k ORDER BY" not in latency  # by all: one row


def test_long_latency_windows_start_on_the_hour() -> None:
    p = plan("latency", {"since": "24h", "by": "subscriber"}, database="sharebus", now=NOW)
    st = _statements(p)["latency"]
    assert st.params["lo0"] == "2026-03-09 16:00:00" and "calls_1m" not in st.sql
    short = _statements(plan("latency", {"since": "1h"}, database="sharebus", now=NOW))["latency"]
    assert short.params["lo0"] == "2026-03-10 15:08:00"


def test_summary_reads_the_day_rollup_and_asks_reach_only_for_the_top() -> None:
    p = plan("summary", {"days": "7", "top": "3"}, database="sharebus", now=NOW)
    st = _statements(p)
    assert "FROM sharebus.calls_1d" in st["days"].sql and "by_subscriber" in st["days"].sql
    assert st["top"].params == {"first": "2026-03-03"} and "LIMIT 3" in st["top"].sql
    reach = p.statements["reach"]
    assert not isinstance(reach, Statement)
    assert reach({"days": [], "top": []}) is None
    top = [{"resource": "market.enterprise", "department": "market", "calls": 5, "bytes": 1}]
    follow = reach({"top": top})
    assert follow is not None
    assert follow.params == {"first": "2026-03-03", "d0": "market", "r0": "market.enterprise"}
    assert "uniqExact(subscriber)" in follow.sql and "resource IN ({r0:String})" in follow.sql


def test_lag_reads_positions_since_the_window() -> None:
    st = _statements(plan("lag", {"since": "15m"}, database="sharebus", now=NOW))["lag"]
    assert "FROM sharebus.positions WHERE ts >= {since:DateTime64(3, 'UTC')}" in st.sql
    assert st.params == {"since": "2026-03-10 15:52:30"}


@pytest.mark.parametrize(
    ("name", "args", "subject"),
    [
        ("nope", {}, "metrics query 'nope'"),
        ("calls", {"by": "district", "sinc": "1h"}, "metrics query 'calls'"),
        ("calls", {"by": "op"}, "--by"),
        ("latency", {"by": "resource"}, "--by"),
        ("calls", {"since": "x"}, "--since"),
        ("summary", {"top": "0"}, "--top"),
        ("summary", {"top": "101"}, "--top"),
        ("summary", {"days": "a"}, "--days"),
    ],
)
def test_bad_arguments(name: str, args: dict[str, str], subject: str) -> None:
    with pytest.raises(QueryArgumentError) as err:
        plan(name, args, database="sharebus", now=NOW)
    assert err.value.subject == subject
    assert err.value.exit_code == 2


def test_plan_runs_statements_in_order_and_feeds_follow_ups() -> None:
    seen: list[str] = []

    class Store:
        def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
            seen.append(sql)
            return [{"n": len(seen)}]

    p = Plan(
        "t",
        {"a": Statement("A"), "b": lambda r: Statement(f"B{r['a'][0]['n']}"), "c": lambda r: None},
        lambda r: dict(r),
    )
    assert p.run(Store()) == {"a": [{"n": 1}], "b": [{"n": 2}], "c": []}
    assert seen == ["A", "B1"]


# --- shaping ---------------------------------------------------------------------------------
WIN = w.window(timedelta(hours=24), NOW)


def test_calls_shape_counts_per_key_and_reason() -> None:
    names = ("key", "outcome", "reason", "records", "bytes")
    rows = [
        dict(zip(names, values, strict=True))
        for values in [
            ("500101", "delivered", "shared_unconditional", 5, 500),
            ("500101", "delivered", "shared_approved", 2, 90),
            ("500101", "withheld", "demand_revoked", 3, 0),
            ("", "dead_letter", "check_usci", 4, 40),
            ("liangjiang", "withheld", "demand_pending", 9, 0),
        ]
    ]
    report = shape_calls(rows, by="subscriber", win=WIN)
    assert report["query"] == "calls" and report["since"] == "2026-03-09T16:08:00Z"
    assert report["totals"] == {"delivered": 7, "bytes": 590, "withheld": 12, "dead_letter": 4}
    assert [r["subscriber"] for r in report["rows"]] == ["500101", "liangjiang", ""]
    first = report["rows"][0]
    assert (first["delivered"], first["bytes"], first["withheld"], first["dead_letter"]) == (7, 590, 3, 0)
    assert first["reasons"] == {
        "delivered": {"shared_unconditional": 5, "shared_approved": 2},
        "withheld": {"demand_revoked": 3},
        "dead_letter": {},
    }
    assert report["rows"][2]["reasons"]["dead_letter"] == {"check_usci": 4}
    assert report["rows"][2]["bytes"] == 0, "bytes count deliveries only"
    assert all(
        list(r) == ["subscriber", "delivered", "bytes", "withheld", "dead_letter", "reasons"]
        and tuple(r["reasons"]) == OUTCOMES
        for r in report["rows"]
    )


def test_calls_shape_orders_by_figures_then_key_and_entries_are_independent() -> None:
    def row(key: str, outcome: str, reason: str, records: int) -> dict[str, Any]:
        return {"key": key, "outcome": outcome, "reason": reason, "records": records, "bytes": records * 10}

    rows = [
        row("b", "delivered", "shared_unconditional", 5),
        row("渝中", "delivered", "shared_unconditional", 5),
        row("a", "delivered", "shared_unconditional", 5),
        row("c", "delivered", "shared_unconditional", 5),
        row("c", "withheld", "demand_pending", 1),
        row("", "delivered", "shared_unconditional", 5),
        row("z", "dead_letter", "check_usci", 9),
        row("y", "withheld", "no_subscriber", 9),
    ]
    report = shape_calls(rows, by="resource", win=WIN)
    # Ties on every figure are ordered by key.
    assert [r["resource"] for r in report["rows"]] == ["c", "", "a", "b", "渝中", "y", "z"]
    assert report["totals"] == {"delivered": 25, "bytes": 250, "withheld": 10, "dead_letter": 9}
    first, second = report["rows"][0], report["rows"][1]
    first["reasons"]["withheld"]["x"] = 1
    assert second["reasons"]["withheld"] == {}, "no two entries share a reasons dict"
    assert shape_calls([], by="district", win=WIN)["rows"] == []


def _day(day: str, calls: int, size: int) -> dict[str, Any]:
    return {"day": day, "calls": calls, "bytes": size}


def test_summary_averages_complete_days_since_data_began() -> None:
    days = [
        _day("2026-03-07", 100, 1000),
        _day("2026-03-08", 0, 0),
        _day("2026-03-09", 300, 3000),
        _day("2026-03-10", 50, 5),
    ]
    top = [{"resource": "market.enterprise", "department": "market", "calls": 400, "bytes": 4000}]
    reach = [{"resource": "market.enterprise", "subscribers": 3}]
    report = shape_summary({"days": days, "top": top, "reach": reach}, now=NOW, days=30)
    assert report["cumulative"] == {"calls": 450, "bytes": 4005, "since": "2026-03-07"}
    assert report["daily_average"] == {"calls": round(400 / 3, 1), "bytes": round(4000 / 3, 1), "days": 3}
    assert report["today"]["calls"] == 50 and report["today"]["day"] == "2026-03-10"
    assert report["top_resources"][0]["subscribers"] == 3
    assert [d["day"] for d in report["daily"]] == ["2026-03-07", "2026-03-09", "2026-03-10"]


def test_summary_of_an_empty_store_and_a_store_started_today() -> None:
    empty = shape_summary({"days": [], "top": [], "reach": []}, now=NOW, days=30)
    assert empty["daily_average"] is None and empty["cumulative"] == {"calls": 0, "bytes": 0, "since": None}
    today = shape_summary({"days": [_day("2026-03-10", 4, 8)], "top": [], "reach": []}, now=NOW, days=30)
    assert today["daily_average"] is None and today["today"]["calls"] == 4


def test_summary_average_is_limited_to_the_period() -> None:
    days = [_day("2026-01-01", 1_000_000, 0), _day("2026-03-09", 70, 7)]
    report = shape_summary({"days": days, "top": [], "reach": []}, now=NOW, days=7)
    assert report["daily_average"] == {"calls": 10.0, "bytes": 1.0, "days": 7}
    assert report["cumulative"]["calls"] == 1_000_070


def test_reasons_latency_and_lag_shapes() -> None:
    names = ("outcome", "reason", "k", "records")
    rows = [
        ("withheld", "demand_revoked", "market", 3),
        ("dead_letter", "check_usci", "market", 2),
        ("dead_letter", "check_usci", "housing", 1),
    ]
    reasons = shape_reasons([dict(zip(names, r, strict=True)) for r in rows], by="department", win=WIN)
    assert reasons["totals"] == {"withheld": 3, "dead_letter": 3}
    assert reasons["by_reason"]["dead_letter"] == {"check_usci": 3}
    assert reasons["rows"][0] == {
        "outcome": "withheld",
        "reason": "demand_revoked",
        "department": "market",
        "records": 3,
    }
    latency = shape_latency([{"k": "all", "records": 10, "q": [12.345, 99.0, None]}], by="all", win=WIN)
    assert latency["rows"] == [{"records": 10, "p50_ms": 12.3, "p95_ms": 99.0, "p99_ms": None}]
    by_sub = shape_latency([{"k": "500101", "records": 1, "q": None}], by="subscriber", win=WIN)
    assert by_sub["rows"][0]["subscriber"] == "500101" and by_sub["rows"][0]["p95_ms"] is None
    lag = shape_lag(
        [
            {
                "subscriber": "500101",
                "group_id": "500101.sync",
                "topics": 2,
                "partitions": 6,
                "committed": 80,
                "end_offset": 100,
                "lag": 20,
                "consumed": 30,
                "uncommitted": 1,
                "sampled_at": "2026-03-10 16:07:00.250",
            }
        ],
        start=NOW - timedelta(minutes=15),
        now=NOW,
    )
    assert lag["rows"][0]["lag"] == 20 and lag["rows"][0]["sampled_at"] == "2026-03-10T16:07:00.250Z"
    assert lag["rows"][0]["group"] == "500101.sync" and lag["rows"][0]["uncommitted_partitions"] == 1
