"""Objections (疑义) as pure functions: raised against the catalog, answered by the department
or the authority only, corrected by a change of an objected field, scored by how soon resolved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sharebus.apps.objections import ObjectionBook, visible_to
from sharebus.catalog.models import Catalog
from sharebus.catalog.workflow import Actor
from sharebus.cli.objections import parse_key
from sharebus.core.errors import ConfigError
from sharebus.testing.builders import USCC
from streams.objections import (
    Objection,
    ObjectionRefused,
    ObjectionState,
    answered,
    changed_fields,
    corrected,
    indicator,
    new_objection,
    on_time,
)
from streams.quality_score import Figures, score_resource

NOW = datetime(2026, 6, 1, 8, tzinfo=UTC)
BODY: dict[str, Any] = {
    "resource": "market.enterprise",
    "key": {"uscc": USCC},
    "fields": ["phone"],
    "reason": "the phone number is the old office's",
    "offset": 42,
}


def raised(catalog: Catalog, **changes: Any) -> Objection:
    return new_objection(catalog, "500103", {**BODY, **changes}, "o1", NOW)


def test_an_objection_names_a_record_and_fields_of_the_catalog(chongqing_catalog: Catalog) -> None:
    o = raised(chongqing_catalog)
    assert (o.department, o.state, o.fields, o.offset) == ("market", ObjectionState.OPEN, ("phone",), 42)
    assert Objection.from_dict(o.to_dict()) == o
    inspection = raised(chongqing_catalog, resource="market.inspection", key={"id": "7"}, fields=["uscc"])
    assert inspection.key == {"id": 7}  # as the topic has it (typed by the catalog)


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"resource": "market.nope"}, ObjectionRefused.MISSING),
        ({"key": {"name": "x"}}, ObjectionRefused.INVALID),
        ({"fields": ["nope"]}, ObjectionRefused.INVALID),
        ({"fields": []}, ObjectionRefused.INVALID),
        ({"reason": "  "}, ObjectionRefused.INVALID),
        ({"offset": -1}, ObjectionRefused.INVALID),
        ({"offset": True}, ObjectionRefused.INVALID),
    ],
)
def test_a_malformed_objection_is_refused(
    chongqing_catalog: Catalog, changes: dict[str, Any], kind: str
) -> None:
    with pytest.raises(ObjectionRefused) as caught:
        raised(chongqing_catalog, **changes)
    assert caught.value.kind == kind


def test_only_the_department_or_the_authority_answers(chongqing_catalog: Catalog) -> None:
    o = raised(chongqing_catalog)
    later = NOW + timedelta(days=1)
    with pytest.raises(ObjectionRefused) as caught:
        answered(o, "acknowledge", "hrss", authority=False, reason="", now=later)
    assert caught.value.kind == ObjectionRefused.FORBIDDEN and "market" in str(caught.value)
    seen = answered(o, "acknowledge", "market", authority=False, reason="", now=later)
    assert seen.state is ObjectionState.ACKNOWLEDGED and seen.resolved_at is None
    with pytest.raises(ObjectionRefused, match="needs a reason"):
        answered(seen, "reject", "market", authority=False, reason="", now=later)
    done = answered(seen, "reject", "authority-user", authority=True, reason="the number is right", now=later)
    assert done.state is ObjectionState.REJECTED and done.resolved_at == later
    for action in ("acknowledge", "correct", "reject"):
        with pytest.raises(ObjectionRefused) as again:
            answered(done, action, "market", authority=False, reason="x", now=later)
        assert again.value.kind == ObjectionRefused.CONFLICT
    with pytest.raises(ObjectionRefused) as bad:
        answered(o, "delete", "market", authority=False, reason="", now=later)
    assert bad.value.kind == ObjectionRefused.INVALID


def test_a_change_of_an_objected_field_corrects_it(chongqing_catalog: Catalog) -> None:
    o = raised(chongqing_catalog)
    assert not changed_fields(o, {"phone": "1", "status": "a"}, {"phone": "1", "status": "b"})
    assert changed_fields(o, {"phone": "1"}, {"phone": "2"})
    fixed = corrected(o, NOW + timedelta(hours=3))
    assert fixed.state is ObjectionState.CORRECTED and fixed.answered_by == "source change"


def test_how_soon_it_was_resolved_scores_the_resource(chongqing_catalog: Catalog) -> None:
    o = raised(chongqing_catalog)
    assert on_time(o, NOW + timedelta(days=4)) == 1.0  # open, young
    assert on_time(o, NOW + timedelta(days=7, hours=12)) == 0.5  # open, 7.5 days
    assert on_time(o, NOW + timedelta(days=30)) == 0.0
    late = replace(corrected(o, NOW + timedelta(days=6)), state=ObjectionState.CORRECTED)
    assert on_time(late, NOW + timedelta(days=60)) == pytest.approx(0.8)  # resolved after 6 days
    assert indicator([], NOW) == 1.0 and indicator([o, late], NOW + timedelta(days=60)) == pytest.approx(0.4)
    res = chongqing_catalog.resource("market.enterprise")
    assert res is not None
    scored = score_resource(res, "unit", Figures(), NOW, NOW + timedelta(days=8), [o])
    assert scored.objections == pytest.approx(0.4)
    assert "1 of 1 objections unresolved, the oldest 8 d" in scored.problems


def test_the_book_keeps_the_open_ones_by_their_source_key_and_shows_each_its_own(
    chongqing_catalog: Catalog,
) -> None:
    book = ObjectionBook()
    o = raised(chongqing_catalog)
    book.put(o)
    key = b'{"uscc":"' + USCC.encode() + b'"}'
    assert book.open_for(key) == [o] and book.any_open
    book.put(corrected(o, NOW))
    assert book.open_for(key) == [] and not book.any_open and len(book.all()) == 1
    assert visible_to(book.all(), Actor("500103")) and visible_to(book.all(), Actor("market"))
    assert not visible_to(book.all(), Actor("500101")) and visible_to(book.all(), Actor("x", authority=True))


def test_a_key_on_the_command_line() -> None:
    assert parse_key(f"uscc={USCC}") == {"uscc": USCC}
    assert parse_key('{"id": 7}') == {"id": 7} and parse_key("a=1, b=2") == {"a": "1", "b": "2"}
    with pytest.raises(ConfigError):
        parse_key("nokey")


def test_the_trend_counts_objections_on_the_day_they_were_raised(chongqing_catalog: Catalog) -> None:
    from streams.quality_score import trend

    o = raised(chongqing_catalog)  # 2026-06-01, never answered
    now = NOW + timedelta(days=7, hours=12)
    days = ["2026-05-31", "2026-06-01"]
    scores = trend(chongqing_catalog, [], {}, days, now, only={"market.enterprise"}, objections=[o])
    # Nothing seen either day (stale: timeliness 0); the objection halves its day's 10 points.
    assert scores["2026-05-31"]["market.enterprise"] == pytest.approx(80.0)
    assert scores["2026-06-01"]["market.enterprise"] == pytest.approx(75.0)
