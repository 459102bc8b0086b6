"""The entitled topics read straight from the catalog are the compiled policy's, at every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.scale.catalog import Scale, write
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, DemandStatus
from streams.policy import compile_policy
from streams.policy.entitled import entitled_topics, entitlement_windows, in_window

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"test-pseudonym-key-32-bytes-long"


def _compiled_topics(catalog: Catalog, now: datetime) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for ent in compile_policy(catalog, pseudonym_key=KEY).entitlements(now):
        out.setdefault(ent.subscriber, set()).add(ent.topic)
    return out


def _compiled_pairs(catalog: Catalog, now: datetime) -> set[tuple[str, str]]:
    return {(e.subscriber, e.resource) for e in compile_policy(catalog, pseudonym_key=KEY).entitlements(now)}


def _window_pairs(catalog: Catalog, now: datetime) -> set[tuple[str, str]]:
    windows = entitlement_windows(catalog)
    return {(s, r.id) for s, by_res in windows.items() for r, w in by_res.items() if in_window(w, now)}


def _instants(catalog: Catalog) -> list[datetime]:
    """Now, far away both sides, and each side of every validity boundary of the demands."""
    out = [NOW, NOW + timedelta(days=4000), NOW - timedelta(days=4000)]
    for d in catalog.demands:
        for edge in (d.valid_from, d.valid_until):
            if edge is not None:
                out += [edge - timedelta(microseconds=1), edge]
    return out


def test_the_sample_at_every_validity_boundary(chongqing_catalog: Catalog) -> None:
    """The topics, and the windows' (subscriber, resource) pairs, as the compiled policy's."""
    for now in _instants(chongqing_catalog):
        assert entitled_topics(chongqing_catalog, now) == _compiled_topics(chongqing_catalog, now), now
        assert _window_pairs(chongqing_catalog, now) == _compiled_pairs(chongqing_catalog, now), now


@pytest.mark.parametrize("status", list(DemandStatus))
def test_each_demand_status(chongqing_catalog: Catalog, status: DemandStatus) -> None:
    demands = tuple(d.model_copy(update={"status": status}) for d in chongqing_catalog.demands)
    catalog = chongqing_catalog.model_copy(update={"demands": demands})
    assert entitled_topics(catalog, NOW) == _compiled_topics(catalog, NOW)
    for now in _instants(catalog):
        assert _window_pairs(catalog, now) == _compiled_pairs(catalog, now), now


def test_a_subscriber_whose_rows_name_no_district_gets_no_regional_topic(chongqing_catalog: Catalog) -> None:
    subscribers = tuple(
        s.model_copy(update={"districts": ("999999",), "city_wide": False})
        for s in chongqing_catalog.subscribers
    )
    catalog = chongqing_catalog.model_copy(update={"subscribers": subscribers})
    assert entitled_topics(catalog, NOW) == _compiled_topics(catalog, NOW)


def test_a_generated_city(tmp_path: Path) -> None:
    catalog = load_catalog(
        write(Scale(departments=4, resources=60), tmp_path / "chongqing", with_sample=True).directory
    )
    now = datetime.now(UTC)
    assert entitled_topics(catalog, now) == _compiled_topics(catalog, now)
