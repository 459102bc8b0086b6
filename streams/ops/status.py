"""Burrow-style consumer status: pure rules over a sliding window of sampled offsets.

Like Burrow (github.com/linkedin/Burrow/wiki/Consumer-Lag-Evaluation-Rules), a partition is judged
by how its committed offset and its lag move over a window, never by a fixed lag threshold:

1. committed beyond the end, or committed moving backwards  → ERROR (topic recreated, a rewind)
2. no lag now                                                → OK
3. fewer samples than the window needs                       → OK (not enough history to judge)
4. lag was zero at some sample of the window                 → OK (the consumer keeps catching up)
5. no commit within the window                               → STOP
   (commits are seen on `__consumer_offsets`; where they are not observed, an unmoved offset
   with a live member holding the partition is a STALL, without one a STOP)
6. commits arrive but the committed offset does not move     → STALL
7. commits move, but the lag grew over the window            → WARN (falling behind)
8. otherwise                                                 → OK

NONE marks a topic no consumer group of the subscriber reads (Burrow's NOTFOUND).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """A consumer's health; `severity` orders them (the worst one wins when aggregating)."""

    NONE = "NONE"
    OK = "OK"
    WARN = "WARN"
    STALL = "STALL"
    STOP = "STOP"
    ERROR = "ERROR"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Status.NONE: -1, Status.OK: 0, Status.WARN: 1, Status.STALL: 2, Status.STOP: 3, Status.ERROR: 4}


@dataclass(frozen=True, slots=True)
class Point:
    """One sample of one partition for one consumer group: when, committed (-1: none), end."""

    at: float
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - max(self.committed, 0), 0)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What is known besides the offsets: the newest commit seen for the partition, since when
    commits are observed at all (None: they are not), and whether a live member holds it."""

    last_commit_at: float | None = None
    commits_observed_since: float | None = None
    assigned: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str


def evaluate(points: Sequence[Point], evidence: Evidence, *, min_samples: int) -> Verdict:
    """The status of one partition of one group over the window `points` (oldest first)."""
    if not points:
        return Verdict(Status.NONE, "not sampled")
    first, last = points[0], points[-1]
    if last.committed > last.end:
        return Verdict(
            Status.ERROR,
            f"committed offset {last.committed} is beyond the end {last.end} (topic recreated or truncated)",
        )
    rewind = _rewind(points)
    if rewind is not None:
        return Verdict(Status.ERROR, f"committed offset moved back from {rewind[0]} to {rewind[1]}")
    if last.lag == 0:
        return Verdict(Status.OK, "caught up")
    if len(points) < min_samples:
        return Verdict(Status.OK, f"lag {last.lag}; {len(points)} of {min_samples} samples, too few to judge")
    if any(p.lag == 0 for p in points):
        return Verdict(Status.OK, f"lag {last.lag}, but zero within the window")
    span = last.at - first.at
    moved = last.committed != first.committed
    committed_in_window = evidence.last_commit_at is not None and evidence.last_commit_at >= first.at
    if not moved and not committed_in_window:
        observed = evidence.commits_observed_since
        if observed is not None and observed <= first.at:
            return Verdict(Status.STOP, f"no commit for {span:.0f}s while lag is {last.lag}")
        if evidence.assigned:
            return Verdict(
                Status.STALL,
                f"offset {max(last.committed, 0)} not moving for {span:.0f}s"
                f" while lag is {last.lag} (a live member holds it)",
            )
        return Verdict(
            Status.STOP,
            f"offset {max(last.committed, 0)} not moving for {span:.0f}s"
            f" while lag is {last.lag}, and no live member holds it",
        )
    if not moved:
        return Verdict(
            Status.STALL,
            f"commits arrive but stay at offset {max(last.committed, 0)} while lag is {last.lag}",
        )
    if last.lag > first.lag and slope([(p.at, float(p.lag)) for p in points]) > 0:
        return Verdict(Status.WARN, f"lag grew from {first.lag} to {last.lag} over {span:.0f}s")
    return Verdict(Status.OK, f"consuming; lag {first.lag} → {last.lag} over {span:.0f}s")


def _rewind(points: Sequence[Point]) -> tuple[int, int] | None:
    for before, after in itertools.pairwise(points):
        if before.committed >= 0 and 0 <= after.committed < before.committed:
            return before.committed, after.committed
    return None


def slope(series: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two distinct x)."""
    n = len(series)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in series) / n
    mean_y = sum(y for _, y in series) / n
    var = sum((x - mean_x) ** 2 for x, _ in series)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in series) / var


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status (NONE when there is none)."""
    return max(statuses, key=lambda s: s.severity, default=Status.NONE)
