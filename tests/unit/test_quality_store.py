"""Quality figures through the embedded store: rows inserted as the worker's sink inserts them
come back from the `quality` query exactly — summed over minutes, days and field sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.metrics.chdb_store import ChdbStore
from streams.metrics.queries import plan
from streams.metrics.rows import QualityRow

# Today at noon: the raw rows' TTL (3 days) would drop rows of a fixed date long past.
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def row(
    minute: datetime, seen: int, fields: tuple[str, ...], nonnull: tuple[int, ...], **kw: object
) -> QualityRow:
    values: dict[str, object] = {
        "minute": minute,
        "department": "market",
        "resource": "market.enterprise",
        "seen": seen,
        "invalid": {},
        "samples": {},
        "images": seen,
        "fields": fields,
        "nonnull": nonnull,
        "filled": sum(nonnull),
        "weight": seen * len(fields),
        "routed": seen,
        "late": 0,
        "latency_ms_sum": 100 * seen,
        "last_change": minute + timedelta(seconds=30),
    }
    values.update(kw)
    return QualityRow(**values)  # type: ignore[arg-type]


def test_the_query_sums_minutes_days_and_field_sets_exactly(tmp_path: Path) -> None:
    store = ChdbStore(tmp_path / "metrics")
    try:
        store.apply_ddl()
        two_days_ago = NOW - timedelta(days=2)
        store.insert_quality(
            [
                row(two_days_ago, 4, ("uscc", "phone"), (4, 3), invalid={"code": 1}),
                row(NOW - timedelta(minutes=2), 2, ("uscc", "phone"), (2, 0), late=1),
                row(NOW - timedelta(minutes=1), 3, ("uscc", "email"), (3, 1), invalid={"code": 1, "key": 2}),
            ],
            token="ab01",
        )
        report = plan("quality", {"since": "7d"}, database="sharebus", now=NOW).run(store)
        (figures,) = report["rows"]
        assert (figures["seen"], figures["images"], figures["routed"], figures["late"]) == (9, 9, 9, 1)
        assert figures["invalid"] == {"code": 2, "key": 2}
        # Only the fields some after-image lacked (`uscc` was always filled).
        assert figures["nonnull"] == {"phone": 3, "email": 1}
        assert figures["latency_ms_sum"] == 900
        assert report["last_changes"] == {"market.enterprise": f"{NOW.date().isoformat()}T11:59:30Z"}

        # The trend: per resource, its days and their figures as parallel arrays.
        daily = plan("quality", {"since": "7d", "daily": "yes"}, database="sharebus", now=NOW).run(store)
        first, today = two_days_ago.date().isoformat(), NOW.date().isoformat()
        (series,) = daily["series"]
        by_day = {d: i for i, d in enumerate(series["days"])}
        assert sorted(by_day) == [first, today]
        assert series["seen"][by_day[first]] == 4 and series["seen"][by_day[today]] == 5
        assert series["failed"][by_day[first]] == 1 and series["failed"][by_day[today]] == 3
        assert series["late"][by_day[today]] == 1
        assert daily["last_changes"][first] == {"market.enterprise": f"{first}T12:00:30Z"}
        assert daily["last_changes"][today] == {"market.enterprise": f"{today}T11:59:30Z"}

        alone = plan("quality", {"since": "1h"}, database="sharebus", now=NOW).run(store)
        assert alone["rows"][0]["seen"] == 5  # the days from the window's first, today alone
        # Up to a day: the first day's figures only, and the newest change known by then.
        until = plan("quality", {"since": "7d", "until": first}, database="sharebus", now=NOW).run(store)
        assert until["rows"][0]["seen"] == 4
        assert until["last_changes"] == {"market.enterprise": f"{first}T12:00:30Z"}
        other = plan("quality", {"since": "7d", "resources": "x.y,z.w"}, database="sharebus", now=NOW)
        assert other.run(store)["rows"] == []
    finally:
        store.close()
