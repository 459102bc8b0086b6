"""The scorecard's formula, indicators, freshness, grouping and ranking, over the sample catalog;
and the `quality` metrics query's shaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, Frequency
from streams.metrics.quality_queries import EPOCH_TEXT, carried_forward, quality_plan, shape_quality
from streams.quality_score import (
    WEIGHTS,
    Figures,
    grouped,
    is_fresh,
    ranked,
    score_of,
    scorecard,
    summary,
    trend,
)

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ENTERPRISE = "market.enterprise"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


def full(images: int, **fewer: int) -> dict[str, int]:
    names = ("uscc", "name", "legal_rep_name", "legal_rep_id", "phone", "address", "district_code")
    names += ("reg_capital", "status", "established_on", "created_at", "updated_at")
    return {n: fewer.get(n, images) for n in names}


def test_the_weights_sum_to_one_and_a_perfect_resource_scores_100() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert score_of(dict.fromkeys(WEIGHTS, 1.0)) == pytest.approx(100.0)


def test_every_indicator_of_one_resource_is_exact(catalog: Catalog) -> None:
    figures = Figures(seen=10, invalid={"code": 2}, images=10, nonnull=full(10, phone=5), routed=10, late=1)
    scores = scorecard(catalog, {ENTERPRISE: figures}, {ENTERPRISE: NOW - timedelta(minutes=10)}, NOW)
    s = next(x for x in scores if x.resource == ENTERPRISE)
    assert s.validity == pytest.approx(0.8)
    # 9 required fields weigh 2, 3 optional weigh 1; phone is half filled.
    assert s.completeness == pytest.approx((18 + 2 + 0.5) / 21)
    assert s.fresh and s.timeliness == pytest.approx(0.9)
    assert s.score == pytest.approx(100 * (0.3 * 0.8 + 0.25 * 20.5 / 21 + 0.2 * 0.9 + 0.15 + 0.1))
    assert s.unit == "重庆市市场监督管理局 登记注册处"
    assert s.problems[0] == "2 of 10 records failed checks (code 2)"
    assert "phone 50% filled" in s.problems


def test_a_stale_or_never_seen_resource_loses_its_timeliness(catalog: Catalog) -> None:
    scores = {s.resource: s for s in scorecard(catalog, {}, {ENTERPRISE: NOW - timedelta(hours=2)}, NOW)}
    stale = scores[ENTERPRISE]
    assert not stale.fresh and stale.timeliness == 0.0 and stale.score == pytest.approx(80.0)
    assert any(p.startswith("stale: no change since") for p in stale.problems)
    never = next(s for r, s in scores.items() if r != ENTERPRISE)
    assert never.last_change is None and any("never changed" in p for p in never.problems)


@pytest.mark.parametrize(
    ("frequency", "age", "fresh"),
    [
        (Frequency.REALTIME, timedelta(minutes=59), True),
        (Frequency.REALTIME, timedelta(minutes=61), False),
        (Frequency.DAILY, timedelta(hours=47), True),
        (Frequency.DAILY, timedelta(hours=49), False),
        (Frequency.MONTHLY, timedelta(days=31), True),
        (Frequency.IRREGULAR, timedelta(days=3650), True),
    ],
)
def test_freshness_follows_the_declared_update_frequency(
    frequency: Frequency, age: timedelta, fresh: bool
) -> None:
    assert is_fresh(frequency, NOW - age, NOW) is fresh


def test_units_and_departments_are_the_mean_of_their_resources_and_rank_best_first(catalog: Catalog) -> None:
    recent = {r.id: NOW for r in catalog.resources}
    bad = Figures(seen=4, invalid={"key": 4}, images=0)
    scores = scorecard(catalog, {ENTERPRISE: bad}, recent, NOW)
    market = [s for s in scores if s.department == "market"]
    (group,) = [g for g in grouped(scores, "department") if g.name == "market"]
    assert group.resources == len(market) and group.invalid == 4
    assert group.score == pytest.approx(sum(s.score for s in market) / len(market))
    order = ranked(grouped(scores, "department"))
    assert order[-1].name == "market" and all(g.score == pytest.approx(100.0) for g in order[:-1])
    units = grouped(scores, "unit")
    assert sum(u.resources for u in units) == len(catalog.resources)


def test_the_query_reads_the_daily_rollup_from_the_first_day_of_the_window() -> None:
    plan = quality_plan("sharebus", NOW, since=timedelta(days=30), daily="no")
    figures = plan.statements["figures"]
    assert not callable(figures)
    assert "FROM sharebus.quality_1d" in figures.sql and figures.params == {"start": "2026-05-02"}


def test_shaping_sums_field_sets_by_name_and_drops_unknown_changes() -> None:
    row = {
        "department": "market",
        "resource": ENTERPRISE,
        "seen": 3,
        "invalid": {"code": 1, "key": 0},
        "images": 2,
        "fields": ["uscc", "phone"],
        "nonnull": [2, 1],
        "filled": 3,
        "weight": 4,
        "routed": 3,
        "late": 0,
        "latency_ms_sum": 900,
        "refs": 0,
        "mismatched": 0,
    }
    # The catalog dropped `phone` and added `email` meanwhile: a second field set, one resource.
    after = {**row, "seen": 1, "invalid": {}, "images": 1, "fields": ["uscc", "email"], "nonnull": [1, 1]}
    after |= {"filled": 2, "weight": 2}
    newest = [
        {"resource": ENTERPRISE, "last_change": "2026-06-01T11:00:00Z"},
        {"resource": "x.y", "last_change": EPOCH_TEXT},
    ]
    report = shape_quality([row, after], newest, start=NOW.date(), now=NOW)
    (shaped,) = report["rows"]
    assert shaped["invalid"] == {"code": 1} and shaped["seen"] == 4 and shaped["images"] == 3
    assert shaped["nonnull"] == {"uscc": 3, "phone": 1, "email": 1}
    assert (shaped["filled"], shaped["weight"]) == (5, 6)
    assert report["last_changes"] == {ENTERPRISE: "2026-06-01T11:00:00Z"}


def test_newest_changes_carry_forward_day_by_day() -> None:
    newest = [
        {"on_day": "2026-05-01", "resource": "a", "last_change": "2026-05-01T10:00:00Z"},
        {"on_day": "2026-05-03", "resource": "b", "last_change": "2026-05-03T10:00:00Z"},
        {"on_day": "2026-05-04", "resource": "a", "last_change": "2026-05-04T10:00:00Z"},
    ]
    days = carried_forward(newest, "2026-05-02")
    assert days == {
        "2026-05-02": {"a": "2026-05-01T10:00:00Z"},
        "2026-05-03": {"a": "2026-05-01T10:00:00Z", "b": "2026-05-03T10:00:00Z"},
        "2026-05-04": {"a": "2026-05-04T10:00:00Z", "b": "2026-05-03T10:00:00Z"},
    }


def test_a_window_without_changes_still_knows_the_older_ones() -> None:
    newest = [{"on_day": "2026-04-01", "resource": "a", "last_change": "2026-04-01T10:00:00Z"}]
    assert carried_forward(newest, "2026-05-02") == {"2026-05-02": {"a": "2026-04-01T10:00:00Z"}}


def test_the_dashboard_summary_names_the_lowest_departments_and_resources(catalog: Catalog) -> None:
    recent = {r.id: NOW for r in catalog.resources}
    bad = Figures(seen=4, invalid={"key": 4})
    scores = scorecard(catalog, {ENTERPRISE: bad}, recent, NOW)
    panel = summary(scores, worst=2)
    assert panel["resources"] == len(catalog.resources) and panel["stale"] == 0 and panel["invalid"] == 4
    assert panel["lowest_resources"][0]["resource"] == ENTERPRISE
    assert panel["lowest_resources"][0]["problem"] == "4 of 4 records failed checks (key 4)"
    assert panel["lowest_departments"][0]["department"] == "market" and len(panel["lowest_departments"]) == 2
    assert summary([])["score"] is None


def test_the_trend_scores_each_day_as_the_scorecard_would(catalog: Catalog) -> None:
    day, before = NOW.date().isoformat(), (NOW.date() - timedelta(days=1)).isoformat()
    series = [
        {
            "department": "market",
            "resource": ENTERPRISE,
            "days": [day],
            "seen": [10],
            "failed": [2],
            "images": [10],
            "filled": [200],
            "weight": [210],
            "routed": [10],
            "late": [1],
        }
    ]
    changes = {day: {ENTERPRISE: (NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")}}
    scores = trend(catalog, series, changes, [before, day], NOW)
    figures = Figures(seen=10, invalid={"code": 2}, images=10, filled=200, weight=210, routed=10, late=1)
    (expected,) = scorecard(
        catalog, {ENTERPRISE: figures}, {ENTERPRISE: NOW - timedelta(minutes=5)}, NOW, only={ENTERPRISE}
    )
    assert scores[day][ENTERPRISE] == pytest.approx(expected.score)
    assert scores[before][ENTERPRISE] == pytest.approx(80.0)  # nothing yet, never changed: stale
    assert set(scores[day]) == {r.id for r in catalog.resources}
