"""Benchmark of the embedded metrics store at Chongqing scale: load history, time the CLI's queries.

    .venv/bin/python -m bench.metrics.run [--days 30] [--quick] [--repeat 20] [--json]

Loads `--days` days of history (10.9 M calls a day, 79 departments, 4,154 resources, 61
subscribers) pre-aggregated as the rollups hold it, up to now: per-day rows for every day,
per-hour and per-minute rows for the last two days (the only ones the timed queries read, with
the left-edge day of the longest window; `--full` loads them for every day within their
retention), each tier rolled up from the finer one where that one has rows (as the views make
them), the last 24 h as raw rows, and a day of consumer-position samples. Then it times
every query of `sharebus metrics` (the same `Plan.run` the CLI and the web API call) against
baselines measured in the same run (the raw table; per-minute rows only), and the ingest path
(`insert_calls` through the three materialized views and their projections: batched vs one row
per insert). It prints figures; it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python bench/metrics/run.py` from anywhere
    sys.path.insert(0, str(ROOT))

from bench.metrics.quality import QUALITY_QUERIES, load_quality, raw_quality_sql  # noqa: E402
from sharebus.core import naming  # noqa: E402
from streams.metrics.chdb_store import ChdbStore  # noqa: E402
from streams.metrics.queries import plan  # noqa: E402
from streams.metrics.rows import CallRow  # noqa: E402
from streams.metrics.window import HOUR_TTL_DAYS, MINUTE_TTL_DAYS, floor, sql_datetime  # noqa: E402

DB = "sharebus"


@dataclass(frozen=True)
class Scale:
    """The modelled city. Key counts are distinct (department, resource, subscriber, op, outcome,
    reason) tuples active in one bucket: what one rollup row per bucket and key amounts to."""

    days: int = 30
    calls_per_day: int = 10_900_000
    departments: int = 79
    resources: int = 4154
    keys_per_minute: int = 3_000
    keys_per_hour: int = 20_000
    keys_per_day: int = 60_000
    raw_rows_per_minute: int = 6_000  # router batches: ~100 metric rows a second
    topics_per_subscriber: int = 20
    partitions: int = 3
    sample_every_s: int = 60

    @property
    def records_per(self) -> dict[str, float]:
        """Mean records per row of each table: calls (deliveries) are 97 % of routed records."""
        day = self.calls_per_day / 0.97
        return {
            "calls_1m": day / (1440 * self.keys_per_minute),
            "calls_1h": day / (24 * self.keys_per_hour),
            "calls_1d": day / self.keys_per_day,
            "calls": day / (1440 * self.raw_rows_per_minute),
        }


QUICK = Scale(
    days=3,
    calls_per_day=1_090_000,
    keys_per_minute=300,
    keys_per_hour=2_000,
    keys_per_day=12_000,
    raw_rows_per_minute=600,
    topics_per_subscriber=5,
)


def subscribers() -> list[str]:
    """The city's 38 district codes, 3 zones/departments of region.yaml and 20 departments."""
    path = ROOT / "catalog" / "chongqing" / "districts.csv"
    with path.open(encoding="utf-8") as handle:
        codes = [row["code"] for row in csv.DictReader(handle)]
    return [*codes, "liangjiang", "wansheng", "civil-affairs", *[f"dept-{i:02d}" for i in range(20)]]


def key_columns(key: str, subs: list[str], scale: Scale) -> str:
    """SQL deriving a metric row's dimensions from the integer expression `key` (a key index).

    One resource in five is conditional: its deliveries carry shared_approved and its withheld
    records a demand reason; the others are delivered as shared_unconditional (as the catalog's
    sharing types make them). 97 % delivered, 2 % withheld, 1 % dead letters.
    """
    subs_sql = "[" + ", ".join(f"'{s}'" for s in subs) + "]"
    res = f"(({key}) % {scale.resources})"
    kind = f"(cityHash64({key}, 2) % 100)"
    conditional = f"({res} % 5 = 0)"
    return f"""
        concat('dept', toString({res} % {scale.departments})) AS department,
        concat('dept', toString({res} % {scale.departments}), '.res', toString({res})) AS resource,
        if({kind} >= 99, '', {subs_sql}[1 + cityHash64({key}, 1) % {len(subs)}]) AS subscriber,
        ['c', 'u', 'u', 'u', 'd', 'r'][1 + cityHash64({key}, 3) % 6] AS op,
        multiIf({kind} < 97, 'delivered', {kind} < 99, 'withheld', 'dead_letter') AS outcome,
        multiIf({kind} < 97, if({conditional}, 'shared_approved', 'shared_unconditional'),
                {kind} < 99, if({conditional}, if({kind} = 97, 'demand_pending', 'demand_revoked'),
                                'no_subscriber'),
                'check_usci') AS reason"""


def latency_state(seed: str, delivered: str) -> str:
    """A t-digest state of three skewed latency samples (60 ms … ~1.3 s), empty unless delivered."""
    lat = [
        f"toFloat32(60 + (cityHash64({seed}, {i}) % 1000) * (cityHash64({seed}, {i + 9}) % 1000) / 800)"
        for i in range(3)
    ]
    fn = "'quantilesTDigestWeightedState(0.5, 0.95, 0.99)'"
    return (
        f"if({delivered}, arrayReduce({fn}, [{', '.join(lat)}], [toUInt64(1), toUInt64(1), toUInt64(1)]),"
        f" arrayReduce({fn}, CAST([], 'Array(Float32)'), CAST([], 'Array(UInt64)')))"
    )


def load_rollup(
    store: ChdbStore,
    table: str,
    column: str,
    step: timedelta,
    days: list[datetime],
    keys: int,
    mean_records: float,
    subs: list[str],
    scale: Scale,
) -> int:
    """Rows of `table` for every bucket of each day in `days` (midnights): `keys` keys per bucket,
    one INSERT per day so memory stays flat. A minute draws its keys from its hour's
    `keys_per_hour` (so those minutes rolled up hold as many keys as a loaded hour), any other
    bucket from the day's `keys_per_day`."""
    per_day = max(1, int(timedelta(days=1) / step))
    spread = max(1, round(2 * mean_records - 1))
    for seed, day in enumerate(days):
        n = per_day * keys
        bucket = f"intDiv(number, {keys})"
        draw = f"cityHash64({seed}, {bucket}, number % {keys})"
        if table == "calls_1m":
            draw = f"cityHash64({seed}, intDiv({bucket}, 60), {draw} % {scale.keys_per_hour})"
        key = f"{draw} % {scale.keys_per_day}"
        seconds = int(step.total_seconds())
        ts = (
            f"toDate('{day.date().isoformat()}')"
            if table == "calls_1d"
            else f"toDateTime('{sql_datetime(day)}', 'UTC') + {seconds} * {bucket}"
        )
        store.command(f"""
            INSERT INTO {DB}.{table} SELECT {ts} AS {column}, {key_columns(key, subs, scale)},
                toUInt64(1 + cityHash64(number, {seed}, 1) % {spread}) AS records,
                records * (400 + cityHash64(number, 2) % 800) AS bytes,
                {latency_state(f"number, {seed}", "outcome = 'delivered'")} AS latency_ms
            FROM numbers({n})""")
    return per_day * keys * len(days)


def derive_rollup(store: ChdbStore, table: str, source: str, days: list[datetime]) -> int:
    """Rows of `table` (calls_1h or calls_1d) for each day in `days` rolled up from `source` (the
    next finer rollup) as the views make them: every tier then holds the same calls, which a
    signed cover (streams/metrics/window.py) relies on when it subtracts finer rows."""
    column, source_column, bucket = {
        "calls_1h": ("hour", "minute", "toStartOfHour"),
        "calls_1d": ("day", "hour", "toDate"),
    }[table]
    rows = 0
    for day in days:
        lo, hi = sql_datetime(day), sql_datetime(day + timedelta(days=1))
        store.command(f"""
            INSERT INTO {DB}.{table} SELECT {bucket}(src.{source_column}) AS {column}, department, resource,
                subscriber, op, outcome, reason, sum(src.records) AS records, sum(src.bytes) AS bytes,
                quantilesTDigestWeightedMergeState(0.5, 0.95, 0.99)(src.latency_ms) AS latency_ms
            FROM {DB}.{source} AS src WHERE src.{source_column} >= '{lo}' AND src.{source_column} < '{hi}'
            GROUP BY {column}, department, resource, subscriber, op, outcome, reason""")
        count = f"SELECT count() AS n FROM {DB}.{table} WHERE toDate({column}) = '{day.date().isoformat()}'"
        rows += int(store.query(count)[0]["n"])
    return rows


def load_raw_day(store: ChdbStore, until: datetime, subs: list[str], scale: Scale) -> int:
    """The last 24 h as raw rows (the baseline the rollups are compared with). The views are
    detached meanwhile: the rollups already hold these hours, and the ingest through the views is
    timed on its own (`ingest_rates`)."""
    start = until - timedelta(days=1)
    per_hour = scale.raw_rows_per_minute * 60
    extra = max(0.0, scale.records_per["calls"] - 1)  # mean records per raw row, ≥ 1
    views = [f"{DB}.calls_{g}_mv" for g in ("1m", "1h", "1d")]
    for view in views:
        store.command(f"DETACH TABLE {view}")
    try:
        for hour in range(24):
            first = start + timedelta(hours=hour)
            key = f"cityHash64(number, {hour}) % {scale.keys_per_day}"
            samples = (
                "arrayMap(i -> toFloat32(40 + (cityHash64(number, i) % 1000)"
                " * (cityHash64(number, i, 7) % 1000) / 900), range(1 + number % 2))"
            )
            per_minute = scale.raw_rows_per_minute
            minute = f"toDateTime('{sql_datetime(first)}', 'UTC') + 60 * intDiv(number, {per_minute})"
            store.command(f"""
                INSERT INTO {DB}.calls (minute, department, resource, subscriber, op, outcome, reason,
                                        records, bytes, latencies_ms)
                SELECT {minute} AS minute, {key_columns(key, subs, scale)},
                    toUInt64(1 + (cityHash64(number, 3) % 1000 < {int(extra * 1000)})) AS records,
                    records * (400 + cityHash64(number, 4) % 800) AS bytes,
                    if(outcome = 'delivered', {samples}, CAST([], 'Array(Float32)')) AS latencies_ms
                FROM numbers({per_hour})
                SETTINGS insert_deduplication_token = 'bench-raw-{hour}'""")
    finally:
        for view in views:
            store.command(f"ATTACH TABLE {view}")
    return per_hour * 24


def load_positions(store: ChdbStore, now: datetime, subs: list[str], scale: Scale) -> int:
    parts = len(subs) * scale.topics_per_subscriber * scale.partitions
    samples = 86400 // scale.sample_every_s
    subs_sql = "[" + ", ".join(f"'{s}'" for s in subs) + "]"
    store.command(f"""
        INSERT INTO {DB}.positions
        SELECT toDateTime64('{sql_datetime(now - timedelta(days=1))}', 3, 'UTC')
                   + {scale.sample_every_s} * intDiv(number, {parts}) AS ts,
            {subs_sql}[1 + (number % {parts}) % {len(subs)}] AS subscriber,
            concat(subscriber, '{naming.sync_group("")}') AS group_id,
            concat('{naming.SHARE_PREFIX}', subscriber, '.res',
                   toString(intDiv(number % {parts}, {len(subs)}) % {scale.topics_per_subscriber})) AS topic,
            intDiv(number % {parts}, {len(subs) * scale.topics_per_subscriber}) AS partition_id,
            toInt64(intDiv(number, {parts}) * 50) AS committed,
            committed + toInt64(cityHash64(number) % 200) AS end_offset
        FROM numbers({parts * samples})""")
    return parts * samples


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()  # warm: first run reads parts' marks from disk
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    runs.sort()
    p95 = runs[min(len(runs) - 1, max(0, round(0.95 * len(runs)) - 1))]
    return {"p50_ms": round(statistics.median(runs), 1), "p95_ms": round(p95, 1)}


def ingest_rates(store: ChdbStore, now: datetime, scale: Scale, quick: bool) -> dict[str, Any]:
    """CallRows through `insert_calls` (what the sink does) in 10k-row batches vs one row per
    insert, into a separate database so the timed queries see none of it."""
    store.command(f"CREATE DATABASE IF NOT EXISTS {INGEST_DB}")
    ingest = ChdbStore(store.path, database=INGEST_DB)
    ingest.apply_ddl()
    minute = floor(now, timedelta(minutes=1))
    subs = subscribers()

    def row(i: int) -> CallRow:
        dept = f"dept{i % 79}"
        return CallRow(
            minute,
            dept,
            f"{dept}.res{i % 4154}",
            subs[i % len(subs)],
            "u",
            "delivered",
            "shared_unconditional",
            1 + i % 3,
            900,
            (50.0 + i % 97, 80.0 + i % 13),
        )

    batch = [row(i) for i in range(10_000)]
    batches = 5 if quick else 20
    t0 = time.perf_counter()
    for _ in range(batches):
        ingest.insert_calls(batch)
    batched = batches * len(batch) / (time.perf_counter() - t0)
    singles = 50 if quick else 200
    t0 = time.perf_counter()
    for i in range(singles):
        ingest.insert_calls([batch[i]])
    single = singles / (time.perf_counter() - t0)
    ingest.close()
    return {
        "batched_rows_per_s": round(batched),
        "single_row_inserts_per_s": round(single),
        "batch_rows": len(batch),
        "ratio": round(batched / single, 1),
    }


INGEST_DB = "bench_ingest"

QUERIES: list[tuple[str, str, dict[str, str]]] = [
    ("calls --by subscriber --since 24h", "calls", {"by": "subscriber", "since": "24h"}),
    ("calls --by district --since 24h", "calls", {"by": "district", "since": "24h"}),
    ("calls --by department --since 24h", "calls", {"by": "department", "since": "24h"}),
    ("calls --by resource --since 24h", "calls", {"by": "resource", "since": "24h"}),
    ("calls --by subscriber --since 30d", "calls", {"by": "subscriber", "since": "30d"}),
    ("summary --days 30", "summary", {"days": "30", "top": "10"}),
    ("reasons --since 24h", "reasons", {"since": "24h"}),
    ("latency --since 1h", "latency", {"since": "1h"}),
    ("latency --since 24h", "latency", {"since": "24h"}),
    ("latency --by subscriber --since 24h", "latency", {"by": "subscriber", "since": "24h"}),
    ("lag --since 15m", "lag", {"since": "15m"}),
]


RATIOS = [
    (
        "calls 24h: raw / rollups",
        "raw: calls --by subscriber --since 24h",
        "calls --by subscriber --since 24h",
    ),
    ("latency 24h: raw / rollups", "raw: latency --since 24h", "latency --since 24h"),
    ("latency 24h: per-minute only / tiered", "per-minute only: latency --since 24h", "latency --since 24h"),
    ("quality 24h: raw / daily rollup", "raw: quality --since 1d", "quality --since 1d"),
]


def baselines(store: ChdbStore, now: datetime, repeat: int) -> dict[str, dict[str, float]]:
    """The 24 h calls and latency queries answered from the raw table, and the 24 h latency
    from per-minute rows only (the design without the per-hour tier)."""
    since = sql_datetime(floor(now, timedelta(minutes=1)) + timedelta(minutes=1) - timedelta(days=1))
    raw_calls = (
        f"SELECT subscriber, toString(outcome) AS o, reason, sum(records), sum(bytes)"
        f" FROM {DB}.calls WHERE minute >= '{since}' GROUP BY subscriber, o, reason"
    )
    raw_latency = (
        f"SELECT quantilesTDigestWeighted(0.5, 0.95, 0.99)(l, w) FROM {DB}.calls"
        " ARRAY JOIN latencies_ms AS l, arrayWithConstant(length(latencies_ms),"
        " toUInt64(greatest(1, intDiv(records, length(latencies_ms))))) AS w"
        f" WHERE outcome = 'delivered' AND minute >= '{since}'"
    )
    minute_latency = (
        f"SELECT quantilesTDigestWeightedMerge(0.5, 0.95, 0.99)(latency_ms) FROM {DB}.calls_1m"
        f" WHERE outcome = 'delivered' AND minute >= '{since}'"
    )
    return {
        "raw: calls --by subscriber --since 24h": timed(lambda: store.query(raw_calls), repeat),
        "raw: latency --since 24h": timed(lambda: store.query(raw_latency), repeat),
        "per-minute only: latency --since 24h": timed(lambda: store.query(minute_latency), repeat),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, help="days of history (default 30; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the scale, 3 days: a smoke run")
    parser.add_argument(
        "--full", action="store_true", help="load minute and hour rows for their whole retention (slow)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query (after one warm-up)")
    parser.add_argument("--at", default="00:01", help="UTC time of day to pretend it is: HH:MM or 'now'")
    parser.add_argument("--path", type=Path, help="chDB data path (default: a temporary directory, removed)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else Scale()
    if args.days:
        scale = Scale(**{**asdict(scale), "days": args.days})
    path = args.path or Path(tempfile.mkdtemp(prefix="sharebus-bench-metrics-"))
    say = (lambda _m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    started = time.perf_counter()
    store = ChdbStore(path)
    try:
        store.apply_ddl()
        now = simulated_now(args.at)
        report = run(store, scale, args.repeat, args.quick, args.full, now, say)
    finally:
        store.close()
        if args.path is None:
            shutil.rmtree(path, ignore_errors=True)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    print_report(report, as_json=args.json)
    return 0


def simulated_now(at: str) -> datetime:
    """The latest past moment whose UTC time of day is `at` ('HH:MM'), or now for 'now'.

    The default 00:01 is the worst case of the window cover: `--since 24h` then reads 58
    minutes and 23 hours of rows before today's day row (at 16:00 it reads 7 hours).
    """
    real = datetime.now(UTC)
    if at == "now":
        return real
    hour, minute = (int(x) for x in at.split(":"))
    moment = real.replace(hour=hour, minute=minute, second=30, microsecond=0)
    return moment if moment <= real else moment - timedelta(days=1)


def run(
    store: ChdbStore,
    scale: Scale,
    repeat: int,
    quick: bool,
    full: bool,
    now: datetime,
    say: Callable[[str], None],
) -> dict[str, Any]:
    subs = subscribers()
    today = floor(now, timedelta(days=1))
    every = [today - timedelta(days=d) for d in range(scale.days, -1, -1)]  # the window's days and today
    edge = [every[0]]  # the left edge of `--since <days>d` reads hours of its first day
    hours = every[-(HOUR_TTL_DAYS + 1) :] if full else sorted({*edge, *every[-2:]})
    minutes = every[-MINUTE_TTL_DAYS:] if full else every[-2:]
    loads: dict[str, dict[str, float]] = {}
    tiers = [
        ("calls_1m", "minute", timedelta(minutes=1), minutes, [], scale.keys_per_minute),
        ("calls_1h", "hour", timedelta(hours=1), hours, minutes, scale.keys_per_hour),
        ("calls_1d", "day", timedelta(days=1), every, hours, scale.keys_per_day),
    ]
    finer = {"calls_1h": "calls_1m", "calls_1d": "calls_1h"}
    for table, column, step, days, rolled_up, keys in tiers:
        made = [d for d in days if d not in rolled_up]
        say(f"loading {table}: {len(made)} days × {keys:,} keys per {column}, {len(rolled_up)} rolled up …")
        t0 = time.perf_counter()
        rows = load_rollup(store, table, column, step, made, keys, scale.records_per[table], subs, scale)
        if rolled_up:
            rows += derive_rollup(store, table, finer[table], rolled_up)
        seconds = time.perf_counter() - t0
        loads[table] = _load(rows, len(days), seconds)
    say("loading the last 24 h raw (the baselines; the views are detached meanwhile) …")
    t0 = time.perf_counter()
    rows = load_raw_day(store, now, subs, scale)
    seconds = time.perf_counter() - t0
    loads["calls (raw)"] = _load(rows, 1, seconds)
    t0 = time.perf_counter()
    rows = load_positions(store, now, subs, scale)
    seconds = time.perf_counter() - t0
    loads["positions"] = _load(rows, 1, seconds)
    say(f"loading quality figures: {len(every)} days × {scale.resources:,} resources, 24 h raw …")
    for name, ld in load_quality(store, DB, every, scale.resources, now).items():
        loads[name] = _load(int(ld["rows"]), int(ld["days"]), max(ld["seconds"], 0.01))
    say("timing queries …")

    def query(name: str, qargs: dict[str, str]) -> Callable[[], Any]:
        return lambda: plan(name, qargs, database=DB, now=now).run(store)

    queries = {
        label: timed(query(name, qargs), repeat) for label, name, qargs in [*QUERIES, *QUALITY_QUERIES]
    }
    base = baselines(store, now, repeat)
    base["raw: quality --since 1d"] = timed(lambda: store.query(raw_quality_sql(DB, now)), repeat)
    say("timing ingest …")
    ingest = ingest_rates(store, now, scale, quick)
    check = plan("summary", {"days": str(scale.days)}, database=DB, now=now).run(store)
    return {
        "scale": asdict(scale),
        "loads": loads,
        "queries": queries,
        "baselines": base,
        "ratios": {
            label: round(base[baseline]["p50_ms"] / max(queries[shipped]["p50_ms"], 0.01), 1)
            for label, baseline, shipped in RATIOS
        },
        "ingest": ingest,
        "sanity": {
            "daily_average_calls": (check["daily_average"] or {}).get("calls"),
            "cumulative_calls": check["cumulative"]["calls"],
        },
    }


def _load(rows: int, days: int, seconds: float) -> dict[str, float]:
    return {"rows": rows, "days": days, "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds)}


def print_report(report: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    scale = report["scale"]
    print(
        f"metrics benchmark: {scale['days']} days × {scale['calls_per_day']:,} calls/day, embedded chDB,"
        f" queries as of {report['at']}"
    )
    print("\nload (generated in SQL)   days        rows       s      rows/s")
    for name, ld in report["loads"].items():
        print(f"  {name:<22} {ld['days']:>5} {ld['rows']:>11,} {ld['seconds']:>7.1f} {ld['rows_per_s']:>11,}")
    print("\nquery (Plan.run, as the CLI and the API)         p50 ms   p95 ms")
    for name, t in {**report["queries"], **report["baselines"]}.items():
        print(f"  {name:<46} {t['p50_ms']:>7.1f} {t['p95_ms']:>8.1f}")
    print("\nratios (p50 of the baseline / p50 of the shipped query)")
    for name, ratio in report["ratios"].items():
        print(f"  {name:<46} {ratio:>7.1f}×")
    ing = report["ingest"]
    print(
        f"\ningest via insert_calls: {ing['batched_rows_per_s']:,} rows/s in {ing['batch_rows']:,}-row"
        f" batches, {ing['single_row_inserts_per_s']:,} single-row inserts/s"
        f" ({ing['ratio']}×)"
    )
    sanity = report["sanity"]
    print(
        f"sanity: daily average {sanity['daily_average_calls']:,} calls;"
        f" cumulative {sanity['cumulative_calls']:,}"
    )
    print(f"total {report['total_seconds']} s")


if __name__ == "__main__":
    sys.exit(main())
