"""The metrics store on real embedded chDB in a temporary directory (no stack needed): the DDL
applies twice, rows handed to the sink are in every query within 5 s with exact counts, the
views roll up exactly, sums read through a signed cover are exactly the window's rows, a
retried batch counts once, the store reopens, and chDB's one-process-per-path rule is met by
asking the owner over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from sharebus.core.settings import Settings
from sharebus.testing.ports import free_port
from sharebus.testing.waiting import wait_until
from streams.metrics import migrations
from streams.metrics.api import fetch_report
from streams.metrics.chdb_store import ChdbStore
from streams.metrics.errors import MetricsError, StoreBusyError
from streams.metrics.queries import plan, shape_calls
from streams.metrics.rows import CallRow
from streams.metrics.sink import MetricsSink
from streams.metrics.window import parse_duration, window

REPO = Path(__file__).resolve().parents[2]
OWNER = """
import sys, time
from pathlib import Path
from aiohttp import web
from streams.metrics.api import add_routes
from streams.metrics.chdb_store import ChdbStore
store = ChdbStore(Path(sys.argv[1]))
store.apply_ddl()
port = int(sys.argv[2])
print("ready", flush=True)
if port:
    app = web.Application()
    add_routes(app, store)
    web.run_app(app, host="127.0.0.1", port=port, print=None)
else:
    time.sleep(120)
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChdbStore]:
    s = ChdbStore(tmp_path / "metrics")
    try:
        yield s
    finally:
        s.close()  # one chDB data path per process: the next test opens another


def _figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["delivered"], row["bytes"], row["withheld"], row["dead_letter"], row["reasons"]


def q(store: ChdbStore, name: str, **args: str) -> dict[str, Any]:
    return plan(name, args, database=store.database, now=datetime.now(UTC)).run(store)


def test_ddl_applies_twice_and_every_statement_is_idempotent(store: ChdbStore) -> None:
    packaged = migrations.load_migrations()
    assert store.apply_ddl() == [m.name for m in packaged]
    assert store.apply_ddl() == []
    for migration in migrations.load_migrations():  # run again regardless of the version table
        for statement in migration.statements:
            store.command(migrations.render(statement, store.database))
    versions = store.query("SELECT version, name FROM sharebus.schema_version ORDER BY version")
    assert versions == [{"version": m.version, "name": m.name} for m in packaged]
    assert [m.name for m in packaged][:5] == [
        "001_calls.sql",
        "002_positions.sql",
        "003_audit.sql",
        "004_quality.sql",
        "005_consistency.sql",
    ]


def test_rows_added_to_the_sink_are_in_every_query_within_5_s_with_exact_counts(store: ChdbStore) -> None:
    store.apply_ddl()
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    res = ("market", "market.enterprise")
    rows = [
        CallRow(minute, *res, "500101", "c", "delivered", "shared_unconditional", 7, 700, (30.0, 40.0)),
        CallRow(minute, *res, "500101", "u", "delivered", "shared_unconditional", 3, 300, (50.0,)),
        CallRow(minute, *res, "500102", "c", "delivered", "shared_approved", 5, 500, (60.0,)),
        CallRow(minute, *res, "500102", "c", "withheld", "demand_revoked", 4, 0),
        CallRow(minute, *res, "liangjiang", "c", "withheld", "demand_pending", 2, 0),
        CallRow(minute, *res, "", "c", "dead_letter", "check_usci", 6, 60),
        CallRow(
            minute, "realestate", "realestate.certificate", "", "d", "dead_letter", "region_unknown", 1, 10
        ),
    ]
    sink = MetricsSink(store)  # defaults: ≥ 1000 rows or 1 s
    try:
        added = time.monotonic()
        sink.add(rows)
        nothing: dict[str, dict[str, int]] = {"delivered": {}, "withheld": {}, "dead_letter": {}}
        expected = {
            "500101": (10, 1000, 0, 0, {**nothing, "delivered": {"shared_unconditional": 10}}),
            "500102": (
                5,
                500,
                4,
                0,
                {**nothing, "delivered": {"shared_approved": 5}, "withheld": {"demand_revoked": 4}},
            ),
            "liangjiang": (0, 0, 2, 0, {**nothing, "withheld": {"demand_pending": 2}}),
            "": (0, 0, 0, 7, {**nothing, "dead_letter": {"check_usci": 6, "region_unknown": 1}}),
        }
        seen: dict[str, Any] = {}

        def in_the_figures() -> bool:
            report = q(store, "calls", by="subscriber", since="1h")
            seen.clear()
            seen.update({r["subscriber"]: _figures(r) for r in report["rows"]})
            return seen == expected

        wait_until(
            in_the_figures, 5.0, "the rows in the figures after add()", interval=0.1, last=lambda: seen
        )
        print(f"in the figures {time.monotonic() - added:.1f} s after add()")
    finally:
        sink.close()
    districts = q(store, "calls", by="district")["totals"]
    assert districts == {"delivered": 15, "bytes": 1500, "withheld": 4, "dead_letter": 0}
    assert q(store, "calls", by="department")["totals"]["dead_letter"] == 7
    by_reason = q(store, "reasons")["by_reason"]
    assert by_reason == {
        "withheld": {"demand_revoked": 4, "demand_pending": 2},
        "dead_letter": {"check_usci": 6, "region_unknown": 1},
    }
    latency = q(store, "latency", by="subscriber", since="1h")["rows"]
    assert [r["subscriber"] for r in latency] == ["500101", "500102"]
    assert latency[1]["p50_ms"] == 60.0
    summary = q(store, "summary")
    assert summary["today"]["calls"] == 15 and summary["cumulative"]["calls"] == 15
    assert summary["top_resources"] == [
        {
            "resource": "market.enterprise",
            "department": "market",
            "calls": 15,
            "bytes": 1500,
            "subscribers": 2,
        }
    ]


def test_views_roll_up_exactly_and_latency_is_weighted_by_records(store: ChdbStore) -> None:
    store.apply_ddl()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    res = ("market", "market.enterprise")
    rows = []
    for i in range(300):  # spread over ~2 days of minutes (within the raw table's 3-day TTL)
        minute = now - timedelta(minutes=9 * i)
        sub, op = f"5001{i % 7:02d}", "cudr"[i % 4]
        rows.append(
            CallRow(
                minute,
                *res,
                sub,
                op,
                "delivered",
                "shared_unconditional",
                1 + i % 5,
                100 + i,
                (float(i % 50),),
            )
        )
    store.insert_calls(rows)
    raw = store.query("SELECT sum(records) AS r, sum(bytes) AS b, count() AS n FROM sharebus.calls")[0]
    for table, bucket in (("calls_1m", "minute"), ("calls_1h", "hour"), ("calls_1d", "day")):
        got = store.query(f"SELECT sum(records) AS r, sum(bytes) AS b FROM sharebus.{table}")[0]
        assert (got["r"], got["b"]) == (raw["r"], raw["b"]), table
        per_bucket = store.query(
            f"SELECT toString({bucket}) AS t, sum(records) AS r FROM sharebus.{table} GROUP BY t ORDER BY t"
        )
        of_minute = {"minute": "minute", "hour": "toStartOfHour(minute)", "day": "toDate(minute)"}[bucket]
        expected = store.query(
            f"SELECT toString({of_minute}) AS t, sum(records) AS r FROM sharebus.calls GROUP BY t ORDER BY t"
        )
        assert per_bucket == expected, table
    # One sample standing for 99 records outweighs 10 samples standing for one record each.
    key = (now, "weight", "weight.r", "500199", "c", "delivered", "shared_unconditional")
    store.insert_calls(
        [CallRow(*key, 99, 1, (900.0,)), CallRow(*key, 10, 1, tuple(float(x) for x in range(10)))]
    )
    (row,) = [
        r for r in q(store, "latency", by="subscriber", since="5m")["rows"] if r["subscriber"] == "500199"
    ]
    # Unweighted, 10 of 11 samples are below 10 ms; weighted, 99 of 109 records took 900 ms (the
    # t-digest interpolates between centroids, hence not exactly 900).
    assert row["records"] == 109 and row["p50_ms"] > 500 and row["p99_ms"] == 900.0


def test_a_retried_batch_counts_once_and_the_store_reopens(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    row = CallRow(
        minute, "market", "market.enterprise", "500101", "c", "delivered", "shared_unconditional", 5, 50
    )
    with ChdbStore(path) as first:
        first.apply_ddl()
        first.insert_calls([row], token="0123abcd")
        first.insert_calls([row], token="0123abcd")  # the retry of a batch that had gone in
        first.insert_calls([row])  # a new batch with equal rows is a new batch
    with ChdbStore(path) as again:
        assert again.apply_ddl() == []
        for table in ("calls", "calls_1m", "calls_1h", "calls_1d"):
            assert again.query(f"SELECT sum(records) AS r FROM sharebus.{table}") == [{"r": 10}], table


def _spread_rows(base: datetime, hours: int) -> list[CallRow]:
    """Rows of every 7th minute of the `hours` before `base`: several subscribers (a district, a
    zone, none), outcomes and reasons, 1–5 records each."""
    kinds = [
        ("delivered", "shared_unconditional"),
        ("delivered", "shared_approved"),
        ("withheld", "demand_pending"),
        ("dead_letter", "check_usci"),
    ]
    rows = []
    for i in range(hours * 60 // 7):
        minute = (base - timedelta(minutes=7 * i + 1)).replace(second=0, microsecond=0)
        outcome, reason = kinds[i % 4]
        dept = ("market", "housing", "渝中")[i % 3]
        subscriber = ("500103", "liangjiang", "")[i % 3 if outcome != "dead_letter" else 2]
        n = 1 + i % 5
        rows.append(
            CallRow(
                minute,
                dept,
                f"{dept}.r{i % 5}",
                subscriber,
                "cu"[i % 2],
                outcome,
                reason,
                n,
                100 * n,
                (float(i % 90),),
            )
        )
    return rows


def _sums(rows: list[CallRow], *keys: str) -> dict[tuple[Any, ...], list[int]]:
    """Records and bytes of `rows` per value of `keys` (CallRow fields)."""
    out: dict[tuple[Any, ...], list[int]] = {}
    for r in rows:
        figures = out.setdefault(tuple(getattr(r, k) for k in keys), [0, 0])
        figures[0] += r.records
        figures[1] += r.bytes
    return out


def test_sums_read_through_a_signed_cover_are_the_rows_in_the_window(store: ChdbStore) -> None:
    store.apply_ddl()
    base = (datetime.now(UTC) - timedelta(days=1)).replace(hour=16, minute=7, second=30, microsecond=0)
    rows = _spread_rows(base, 40)
    store.insert_calls(rows)  # the views fill every rollup from it: the same rows in each
    signs: set[tuple[str, int]] = set()
    for since in ("5m", "60m", "90m", "695m", "12h", "24h", "36h"):
        win = window(parse_duration(since), base)
        signs |= {(s.table, s.sign) for s in win.signed_slices()}
        inside = [r for r in rows if win.since <= r.minute < win.until]
        for by in ("subscriber", "department", "resource"):
            flat = [
                {"key": k, "outcome": o, "reason": why, "records": n, "bytes": b}
                for (k, o, why), (n, b) in _sums(inside, by, "outcome", "reason").items()
            ]
            report = plan("calls", {"by": by, "since": since}, database=store.database, now=base).run(store)
            assert report == shape_calls(flat, by=by, win=win), (since, by)
        args = {"by": "department", "since": since}
        reasons = plan("reasons", args, database=store.database, now=base).run(store)["rows"]
        withheld = [r for r in inside if r.outcome != "delivered"]
        expected = {k: n for k, (n, _) in _sums(withheld, "outcome", "reason", "department").items()}
        got = {(r["outcome"], r["reason"], r["department"]): r["records"] for r in reasons}
        assert got == expected, since
    # Every reading was exercised: minutes and hours both added and subtracted, days added.
    assert {("calls_1m", -1), ("calls_1h", -1), ("calls_1m", 1), ("calls_1h", 1), ("calls_1d", 1)} <= signs


def test_query_rows_are_plain_json_values(store: ChdbStore) -> None:
    # What shape_* rely on, as from the server store: 64-bit integers as ints, NaN (an empty
    # quantile) as None, tuples as lists.
    rows = store.query(
        "SELECT toUInt64(18446744073709551615) AS big, toInt64(-5) AS neg, sum(number) AS total, nan AS q,"
        " [nan, 1.5] AS qs, (1, 'x') AS t, 'ok' AS s FROM numbers(3)"
    )
    assert rows == [
        {"big": 2**64 - 1, "neg": -5, "total": 3, "q": None, "qs": [None, 1.5], "t": [1, "x"], "s": "ok"}
    ]


def test_one_data_path_per_process(tmp_path: Path) -> None:
    with ChdbStore(tmp_path / "a") as first:
        with pytest.raises(MetricsError, match="already holds the chDB data path"):
            ChdbStore(tmp_path / "b")
        with ChdbStore(tmp_path / "a") as same:  # the same path again shares the engine
            assert same.query("SELECT 1 AS x") == [{"x": 1}]
        assert first.query("SELECT 2 AS x") == [{"x": 2}]
    with ChdbStore(tmp_path / "b") as other:  # free once the first path is closed
        assert other.query("SELECT 3 AS x") == [{"x": 3}]


def _owner(path: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(path), str(port)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_store_owned_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    port = free_port()
    # The owner stands in for a worker with the query API, over HTTP (SHAREBUS_WEB_TLS=false).
    settings = Settings(metrics_url=f"chdb://{path}", web_host="127.0.0.1", web_port=port, web_tls=False)
    holder = _owner(path, 0)  # owns the store, serves nothing
    try:
        with pytest.raises(StoreBusyError) as err:
            ChdbStore(path)
        assert f"pid {holder.pid}" in (err.value.actual or "")
        with pytest.raises(StoreBusyError) as asked:
            fetch_report(settings, "calls", {})
        assert f"nothing answers at http://127.0.0.1:{port}/api/metrics" in (asked.value.actual or "")
        assert "SHAREBUS_WEB_PORT" in (asked.value.fix or "")
    finally:
        holder.terminate()
        holder.wait(10)
    server = _owner(path, port)  # owns the store and serves the query API: the worker's way
    try:

        def serving() -> bool:
            try:
                requests.get(f"http://127.0.0.1:{port}/api/metrics", timeout=1)
            except requests.ConnectionError:
                return False
            return True

        wait_until(serving, 20, f"the store's owner to serve the query API on {port}", interval=0.1)
        report = fetch_report(settings, "calls", {"by": "district"})
        assert report["query"] == "calls" and report["rows"] == []
    finally:
        server.terminate()
        server.wait(10)
