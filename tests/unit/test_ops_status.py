"""Burrow-style status rules on synthetic windows of sampled offsets: every rule, its precedence,
and what happens when commits are or are not observed."""

from __future__ import annotations

import pytest

from streams.ops.status import Evidence, Point, Status, evaluate, slope, worst

T0 = 1_800_000_000.0
OBSERVED = Evidence(commits_observed_since=T0 - 60)  # commits watched since before the window


def window(committed: list[int], ends: list[int], step: float = 5.0) -> list[Point]:
    return [Point(T0 + i * step, c, e) for i, (c, e) in enumerate(zip(committed, ends, strict=True))]


def judge(
    committed: list[int], ends: list[int], evidence: Evidence = OBSERVED, min_samples: int = 3
) -> Status:
    return evaluate(window(committed, ends), evidence, min_samples=min_samples).status


def test_caught_up_is_ok_whatever_else() -> None:
    assert judge([10, 10, 10, 10], [10, 10, 10, 10]) is Status.OK
    assert judge([0, 0, 0], [0, 0, 0]) is Status.OK


def test_no_commit_within_the_window_while_lag_exists_is_stop() -> None:
    verdict = evaluate(window([50, 50, 50, 50, 50], [60, 70, 80, 90, 100]), OBSERVED, min_samples=3)
    assert verdict.status is Status.STOP
    assert "no commit for 20s" in verdict.reason and "lag is 50" in verdict.reason


def test_stop_even_when_a_member_is_assigned_if_commits_are_observed() -> None:
    # Burrow: no commits is STOP, whether or not the consumer's process is alive.
    evidence = Evidence(commits_observed_since=T0 - 60, assigned=True)
    assert judge([50, 50, 50], [60, 60, 60], evidence) is Status.STOP


def test_commits_that_do_not_move_are_stall() -> None:
    evidence = Evidence(last_commit_at=T0 + 9, commits_observed_since=T0 - 60)
    verdict = evaluate(window([50, 50, 50], [60, 61, 62]), evidence, min_samples=3)
    assert verdict.status is Status.STALL
    assert "stay at offset 50" in verdict.reason


def test_a_commit_before_the_window_does_not_count() -> None:
    evidence = Evidence(last_commit_at=T0 - 1, commits_observed_since=T0 - 60)
    assert judge([50, 50, 50], [60, 61, 62], evidence) is Status.STOP


def test_without_observed_commits_membership_tells_stall_from_stop() -> None:
    assert judge([50, 50, 50], [60, 60, 60], Evidence(assigned=True)) is Status.STALL
    assert judge([50, 50, 50], [60, 60, 60], Evidence(assigned=False)) is Status.STOP
    # Observation that began inside the window cannot prove there was no commit.
    late = Evidence(commits_observed_since=T0 + 3, assigned=True)
    assert judge([50, 50, 50], [60, 60, 60], late) is Status.STALL


def test_lag_growing_while_commits_move_is_warn() -> None:
    verdict = evaluate(window([10, 20, 30, 40], [30, 50, 70, 90]), OBSERVED, min_samples=3)
    assert verdict.status is Status.WARN
    assert verdict.reason == "lag grew from 20 to 50 over 15s"


@pytest.mark.parametrize(
    ("committed", "ends"),
    [
        ([10, 30, 50, 70], [60, 70, 80, 90]),  # lag shrinking: catching up
        ([10, 20, 30, 40], [30, 40, 50, 60]),  # lag steady: keeping pace, not growing
        ([10, 20, 30, 40], [30, 45, 45, 55]),  # up and down, back to where it was
    ],
)
def test_moving_commits_without_lag_growth_are_ok(committed: list[int], ends: list[int]) -> None:
    assert judge(committed, ends) is Status.OK


def test_net_growth_against_a_falling_trend_is_ok() -> None:
    # 20 → 60 → 10 → 25: last > first, but the least-squares trend falls: not "growing".
    assert slope([(0, 20), (1, 60), (2, 10), (3, 25)]) < 0
    assert judge([0, 0, 50, 60], [20, 60, 60, 85]) is Status.OK


def test_lag_zero_anywhere_in_the_window_is_ok() -> None:
    assert judge([50, 50, 50, 50], [50, 60, 70, 80]) is Status.OK  # stopped only just now
    assert judge([10, 20, 30, 40], [10, 40, 70, 100]) is Status.OK


def test_too_few_samples_is_ok_with_the_reason() -> None:
    verdict = evaluate(window([50, 50], [60, 70]), OBSERVED, min_samples=3)
    assert verdict.status is Status.OK
    assert "2 of 3 samples" in verdict.reason


def test_rewind_and_committed_beyond_end_are_errors() -> None:
    rewind = evaluate(window([40, 50, 30], [60, 60, 60]), OBSERVED, min_samples=3)
    assert rewind.status is Status.ERROR and "from 50 to 30" in rewind.reason
    beyond = evaluate(window([40, 50, 80], [60, 60, 60]), OBSERVED, min_samples=3)
    assert beyond.status is Status.ERROR and "beyond the end 60" in beyond.reason
    # Errors need no history.
    assert judge([80], [60], min_samples=3) is Status.ERROR


def test_a_partition_never_committed_counts_whole_and_is_judged() -> None:
    assert Point(T0, -1, 42).lag == 42
    assert judge([-1, -1, -1], [42, 42, 42]) is Status.STOP
    assert judge([-1, -1, -1], [42, 42, 42], Evidence(assigned=True)) is Status.STALL
    assert judge([-1, 5, 10], [42, 52, 62]) is Status.WARN  # first commit, still falling behind


def test_rules_apply_in_burrow_order() -> None:
    # A rewind beats everything; no lag beats stop; stop beats warn.
    assert judge([40, 30, 30], [30, 30, 30]) is Status.ERROR
    assert judge([30, 30, 30], [30, 30, 30]) is Status.OK
    assert judge([30, 30, 30], [31, 40, 50]) is Status.STOP


def test_worst_orders_by_severity() -> None:
    assert worst([Status.OK, Status.WARN, Status.NONE]) is Status.WARN
    assert worst([Status.STALL, Status.STOP, Status.WARN]) is Status.STOP
    assert worst([Status.ERROR, Status.STOP]) is Status.ERROR
    assert worst([]) is Status.NONE
    assert worst([Status.NONE, Status.OK]) is Status.OK
