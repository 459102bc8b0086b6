"""The signed cover of sums: its slices, added or subtracted, are exactly the window's minutes; it
subtracts only kept and settled rows; it reads fewer rows than the all-added cover."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest

from streams.metrics import window as w
from streams.metrics.queries import collection_paused

NOW = datetime(2026, 3, 10, 16, 7, 30, tzinfo=UTC)
STEP = {"calls_1m": w.MINUTE, "calls_1h": w.HOUR, "calls_1d": w.DAY}


def _net(slices: list[w.Slice], minute: datetime) -> int:
    """How many times the slices count `minute` (added minus subtracted)."""
    return sum(s.sign for s in slices if s.lo <= minute < s.hi)


def _shape(slices: list[w.Slice]) -> list[tuple[str, str, str, int]]:
    return [(s.table, s.lo.strftime("%d %H:%M"), s.hi.strftime("%d %H:%M"), s.sign) for s in slices]


NOWS = [
    NOW,
    datetime(2026, 3, 10, 0, 1, 5, tzinfo=UTC),
    datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 10, 11, 30, 0, tzinfo=UTC),
]
HOUR, DAY = 60, 24 * 60
MINUTES = [
    1,
    14,
    15,
    16,
    29,
    31,
    59,
    60,
    61,
    89,
    7 * HOUR + 3,
    11 * HOUR + 52,
    12 * HOUR + 30,
    DAY - 1,
    DAY,
    36 * HOUR + 11,
    2 * DAY + 7,
    8 * DAY + 1,
    30 * DAY,
    92 * DAY + 61,
]


@pytest.mark.parametrize("minutes", MINUTES)
@pytest.mark.parametrize("now", NOWS)
def test_signed_slices_count_every_minute_of_the_window_once_and_nothing_before_it(
    minutes: int, now: datetime
) -> None:
    win = w.window(timedelta(minutes=minutes), now)
    slices = win.signed_slices()
    for s in slices:
        assert w.floor(s.lo, STEP[s.table]) == s.lo and w.floor(s.hi, STEP[s.table]) == s.hi
        assert s.lo < s.hi and s.sign in (1, -1)
    # Every minute from two days before the window to its end; after `until` nothing is stored.
    t = w.floor(win.since, w.DAY) - 2 * w.DAY
    while t < win.until:
        assert _net(slices, t) == (1 if t >= win.since else 0), (minutes, now, t, _shape(slices))
        t += w.MINUTE
    assert len(slices) <= 3 and len({s.table for s in slices}) == len(slices)


@pytest.mark.parametrize("minutes", MINUTES)
@pytest.mark.parametrize("now", NOWS)
def test_only_kept_and_settled_rows_are_subtracted_and_never_more_rows_than_the_cover(
    minutes: int, now: datetime
) -> None:
    win = w.window(timedelta(minutes=minutes), now)
    ttl = {"calls_1m": w.MINUTE_TTL_DAYS, "calls_1h": w.HOUR_TTL_DAYS}
    for s in win.signed_slices():
        if s.sign < 0:
            assert s.table in ttl, "day rows are never subtracted"
            assert s.lo >= win.until - timedelta(days=ttl[s.table]), "within the rollup's retention"
            assert s.hi <= win.until - w.SETTLED, "no row for it can still arrive"
    cost = sum(w._cost(s) for s in win.signed_slices())
    assert cost <= sum(w._cost(s) for s in win.slices())


def test_all_added_is_the_cover_and_short_windows_add_only() -> None:
    for minutes in (1, 5, 14, 15):
        win = w.window(timedelta(minutes=minutes), NOW)
        assert win.signed_slices() == win.slices(), "a few minutes are cheaper added"
    year = w.window(timedelta(days=365), NOW)  # beyond every retention but the days'
    days = [w.Slice("calls_1d", "day", year.since, w.floor(NOW, w.DAY) + w.DAY)]
    assert year.signed_slices() == year.slices() == days


@pytest.mark.parametrize(
    ("now", "since", "expected"),
    [
        # 24 h at 00:01 (the benchmark's worst case for the cover): a day row and two minutes.
        (
            datetime(2026, 3, 10, 0, 1, 30, tzinfo=UTC),
            "24h",
            [("calls_1m", "09 00:00", "09 00:02", -1), ("calls_1d", "09 00:00", "11 00:00", 1)],
        ),
        # 24 h at 16:07: eight minutes less than hour 16, then hours and today.
        (
            NOW,
            "24h",
            [
                ("calls_1m", "09 16:00", "09 16:08", -1),
                ("calls_1h", "09 16:00", "10 00:00", 1),
                ("calls_1d", "10 00:00", "11 00:00", 1),
            ],
        ),
        # 12 h at 16:07: today less its first four hours and eight minutes.
        (
            NOW,
            "12h",
            [
                ("calls_1m", "10 04:00", "10 04:08", -1),
                ("calls_1h", "10 00:00", "10 04:00", -1),
                ("calls_1d", "10 00:00", "11 00:00", 1),
            ],
        ),
        # 90 min at 16:07: 22 minutes added (fewer than 38 subtracted), then hours 15 and 16.
        (NOW, "90m", [("calls_1m", "10 14:38", "10 15:00", 1), ("calls_1h", "10 15:00", "10 17:00", 1)]),
    ],
)
def test_the_cheaper_reading_is_chosen(
    now: datetime, since: str, expected: list[tuple[str, str, str, int]]
) -> None:
    assert _shape(w.window(w.parse_duration(since), now).signed_slices()) == expected


def test_collection_paused_restores_the_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("shaping failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled(), "left off when it was off"
    finally:
        gc.enable()
