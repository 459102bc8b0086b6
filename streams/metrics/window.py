"""Time windows of metrics queries: `--since` durations, and which rollup answers which slice.

A window [since, until) is cut into at most five slices, each read from the coarsest rollup
that fits it exactly: whole days from `calls_1d`, whole hours from `calls_1h`, ragged minutes
from `calls_1m`. A window ends now, and nothing is stored after now, so the bucket holding the
present is read whole: today from `calls_1d`, this hour from `calls_1h`. `--since 24h` at
16:07 reads 1m 16:08–17:00 yesterday, 1h 17:00–24:00, 1d today: exact to the minute, and a
few hundred rows per projection key instead of 1,440 minute rows (merging 1,440 t-digest
states per subscriber is what makes a per-minute-only 24 h latency query slow).

Sums (calls, reasons) may also subtract: `signed_cover` reads a ragged start as the bucket
holding it minus the part before `since` when that reads fewer rows. `--since 24h` at 00:01
then reads 1d yesterday and today minus 1m 00:00–00:02 yesterday (a day row and two minutes of
rows per key) instead of 58 minutes and 23 hours of rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from streams.metrics.errors import QueryArgumentError

# Retention of each table: these must equal the TTLs in ddl/001_calls.sql (a unit test checks).
RAW_TTL_DAYS = 3
MINUTE_TTL_DAYS = 8
HOUR_TTL_DAYS = 92

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

SETTLED = timedelta(minutes=15)
"""Every row of a minute this long before a window's end is stored: the sink stores a row within
seconds of its minute, retries included. Only settled ranges are subtracted: a row still arriving
could be in a bucket and not yet in the finer rows subtracted from it, or the other way round."""

_TIERS = (("calls_1m", "minute"), ("calls_1h", "hour"), ("calls_1d", "day"))
_STEP = {"calls_1m": MINUTE, "calls_1h": HOUR, "calls_1d": DAY}
# What `signed_cover` minimizes: rows per bucket of each rollup's projections in minute buckets
# (a coarser bucket merges the keys of its finer ones: a few times a minute's rows, not 60 or 24
# times), and the fixed cost of one more slice (ClickHouse plans each; ~12 minute buckets).
_WEIGHT = {"calls_1m": 1, "calls_1h": 3, "calls_1d": 6}
_SLICE_COST = 12

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class Slice:
    """One contiguous part of a window, read from one rollup table."""

    table: str  # "calls_1m" | "calls_1h" | "calls_1d"
    column: str  # its time column
    lo: datetime
    hi: datetime
    sign: int = 1  # -1: its rows are subtracted (signed_cover)

    @property
    def is_day(self) -> bool:
        return self.table == "calls_1d"

    def bounds(self) -> tuple[str, str]:
        """`lo`, `hi` as SQL parameter values of the column's type (Date or DateTime)."""
        if self.is_day:
            return self.lo.date().isoformat(), self.hi.date().isoformat()
        return sql_datetime(self.lo), sql_datetime(self.hi)

    @property
    def param_type(self) -> str:
        return "Date" if self.is_day else "DateTime('UTC')"


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until) in UTC; `since` was moved back to an hour or a day boundary when the
    requested start lies beyond the per-minute (or per-hour) retention."""

    since: datetime
    until: datetime
    requested: timedelta

    def slices(self) -> list[Slice]:
        # What must hold: no row is stored for a minute at or after `until` (the current minute
        # + 1): rows carry their delivery minute, which is never in the future.
        return cover(self.since, self.until, open_end=True)

    def signed_slices(self) -> list[Slice]:
        """Slices whose rows, added or subtracted by their sign, are the window's: for sums only
        (a latency state cannot be subtracted). Fewer rows than `slices()` (see signed_cover)."""
        return signed_cover(self.since, self.until)

    def from_hour(self) -> Window:
        """The window with `since` moved back to its hour: for figures where an hour more at
        the start changes nothing that matters (percentiles of a long window) and saves reading
        up to 59 minute rows per key."""
        return Window(floor(self.since, HOUR), self.until, self.requested)

    def to_dict(self) -> dict[str, str]:
        return {"since": iso(self.since), "until": iso(self.until)}


def parse_duration(text: str, *, option: str = "--since") -> timedelta:
    """'90s', '15m', '24h', '7d', '2w' → timedelta; anything else is a QueryArgumentError."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise QueryArgumentError(
            option,
            "is not a duration",
            expected="a positive number and a unit: s, m, h, d or w (e.g. 15m, 24h, 30d)",
            actual=repr(text),
            fix=f"e.g. {option} 24h",
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def window(duration: timedelta, now: datetime) -> Window:
    """The window of the last `duration` up to and including the current minute."""
    until = floor(now.astimezone(UTC), MINUTE) + MINUTE
    since = until - max(duration, MINUTE)
    since = floor(since, MINUTE)
    if since < until - timedelta(days=MINUTE_TTL_DAYS):
        since = floor(since, HOUR)
    if since < until - timedelta(days=HOUR_TTL_DAYS):
        since = floor(since, DAY)
    return Window(since, until, duration)


def cover(since: datetime, until: datetime, *, open_end: bool = False) -> list[Slice]:
    """Slices of [since, until) from the coarsest table that fits each exactly (both ends must be
    minute-aligned). Left to right; empty slices omitted.

    `open_end`: nothing is stored at or after `until`, so the day (else the hour) holding the
    window's last minute may be read whole when it starts within the window.
    """
    if open_end:
        last = until - MINUTE
        if floor(last, DAY) >= since:
            until = floor(last, DAY) + DAY
        elif floor(last, HOUR) >= since:
            until = floor(last, HOUR) + HOUR
    slices: list[Slice] = []
    day_lo, day_hi = ceil(since, DAY), floor(until, DAY)
    if day_lo < day_hi:
        slices += _hours_and_minutes(since, day_lo)
        slices.append(Slice("calls_1d", "day", day_lo, day_hi))
        slices += _hours_and_minutes(day_hi, until)
    else:
        slices += _hours_and_minutes(since, until)
    return slices


def signed_cover(since: datetime, until: datetime) -> list[Slice]:
    """Slices whose rows, summed with their signs, are the rows of [since, until) (both ends
    minute-aligned; nothing stored at or after `until`), reading the fewest rows by `_cost`.

    As in `cover(open_end=True)`, the buckets holding the window's last minute are read whole, so
    the start is the only ragged end. It is reached from its hour either way: minutes [since,
    next hour) added, or minutes [hour, since) subtracted from that hour read whole; that hour from
    its day either way: hours up to the next day added, or hours [day, hour) subtracted from that
    day read whole; every day after it from calls_1d. Adding every part is `cover`'s reading.
    What must hold for a subtraction to be exact: each rollup holds the same rows (the views fill
    all three from each insert), and the subtracted rows are kept and stored (`_subtractable`).
    """
    h0, h1, d0, d1 = floor(since, HOUR), ceil(since, HOUR), floor(since, DAY), ceil(since, DAY)
    end_day = floor(until - MINUTE, DAY) + DAY
    best: list[Slice] = []
    best_cost = -1
    for minutes_back in (False, True):
        if minutes_back and (since == h0 or not _subtractable(h0, since, until, MINUTE_TTL_DAYS)):
            continue
        hour = h0 if minutes_back else h1
        for hours_back in (False, True):
            if hours_back and not _subtractable(d0, hour, until, HOUR_TTL_DAYS):
                continue
            minutes = (h0, since, -1) if minutes_back else (since, h1, 1)
            hours = (d0, hour, -1) if hours_back else (hour, d1, 1)
            days = (d0 if hours_back else d1, end_day, 1)
            pieces = [Slice(t, c, *r) for (t, c), r in zip(_TIERS, (minutes, hours, days), strict=True)]
            kept = [s for s in (_clip(p, until) for p in pieces) if s.lo < s.hi]
            cost = sum(_cost(s) for s in kept)
            if best_cost < 0 or cost < best_cost:  # ties: the first, all added, is `cover`'s
                best, best_cost = kept, cost
    return best


def _subtractable(lo: datetime, hi: datetime, until: datetime, ttl_days: int) -> bool:
    """Rows of [lo, hi) may be subtracted: all kept (a row lives at least its rollup's TTL) and
    all stored (settled)."""
    return lo >= until - timedelta(days=ttl_days) and hi <= until - SETTLED


def _clip(piece: Slice, until: datetime) -> Slice:
    """`piece` without the buckets after the one holding the window's last minute (empty)."""
    step = _STEP[piece.table]
    end = floor(until - MINUTE, step) + step
    return piece if piece.hi <= end else Slice(piece.table, piece.column, piece.lo, end, piece.sign)


def _cost(piece: Slice) -> int:
    return _SLICE_COST + _WEIGHT[piece.table] * ((piece.hi - piece.lo) // _STEP[piece.table])


def _hours_and_minutes(lo: datetime, hi: datetime) -> list[Slice]:
    if lo >= hi:
        return []
    hour_lo, hour_hi = ceil(lo, HOUR), floor(hi, HOUR)
    if hour_lo >= hour_hi:
        return [Slice("calls_1m", "minute", lo, hi)]
    out = []
    if lo < hour_lo:
        out.append(Slice("calls_1m", "minute", lo, hour_lo))
    out.append(Slice("calls_1h", "hour", hour_lo, hour_hi))
    if hour_hi < hi:
        out.append(Slice("calls_1m", "minute", hour_hi, hi))
    return out


def floor(moment: datetime, step: timedelta) -> datetime:
    """`moment` (aware) rounded down to a multiple of `step` since the UTC epoch."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // step) * step


def ceil(moment: datetime, step: timedelta) -> datetime:
    down = floor(moment, step)
    return down if down == moment else down + step


def sql_datetime(moment: datetime) -> str:
    """A UTC DateTime literal 'YYYY-MM-DD hh:mm:ss' (the parameter form both backends take)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: datetime) -> str:
    """'YYYY-MM-DDThh:mm:ssZ'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()
