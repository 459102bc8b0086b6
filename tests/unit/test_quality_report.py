"""A unit's monthly quality report: a self-contained page (two inline SVG charts, no script, text
escaped) whose score is the mean of its resources'; the month's span."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sharebus.catalog.load import load_catalog
from sharebus.cli.quality import month_span
from sharebus.core.errors import ConfigError
from streams.quality_report import UnitMonth, render
from streams.quality_score import Figures, scorecard

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_page_is_self_contained_escaped_and_scores_the_units_resources() -> None:
    catalog = load_catalog(CATALOG)
    mine = {"market.enterprise", "market.inspection"}
    figures = {"market.enterprise": Figures(seen=10, invalid={"code": 2}, images=10, filled=210, weight=210)}
    scores = scorecard(catalog, figures, {"market.enterprise": NOW}, NOW, only=mine)
    daily = [("2026-12-01", None), ("2026-12-02", 84.0), ("2026-12-03", 90.0)]
    page = render(UnitMonth("<局>", "张三 · 023-1", "2026-12", "2026-12-01", "2026-12-07", scores, daily))
    assert "<script" not in page and "&lt;局&gt;" in page and "<局>" not in page
    assert page.count('<svg class="chart"') == 2 and page.count("<circle") == 2  # no point for no figures
    mean = sum(s.score for s in scores) / len(scores)
    assert f'data-score="{mean:.1f}"' in page
    assert all(f'data-resource="{r}"' in page for r in mine)


def test_a_month_spans_its_days_up_to_today() -> None:
    assert month_span(None, NOW) == (date(2026, 12, 1), date(2026, 12, 7))
    assert month_span("2026-02", NOW) == (date(2026, 2, 1), date(2026, 2, 28))
    for bad in ("2026-13", "12/2026", "2027-01"):
        with pytest.raises(ConfigError):
            month_span(bad, NOW)
