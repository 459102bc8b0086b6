"""The router's quality figures: what a batch counts per resource (seen, failed by check,
non-null fields, commit times) and what a delivered minute stores (exact, summable)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.encoder import SchemaBook
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.builders import as_debezium_json, debezium_bytes, raw_record
from streams.quality import compile_checks
from streams.quality_tally import BatchQuality, ResourceTally, count_nonnull, delivered, merge, picker
from streams.router.batch import BatchRouter
from streams.router.calls import QualityTally

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
NOW = datetime(2026, 6, 1, 8, 30, 10, tzinfo=UTC)
COMMIT_MS = int(NOW.timestamp() * 1000) - 150


@pytest.fixture(scope="module")
def router(book: SchemaBook) -> BatchRouter:
    return BatchRouter(book.policy, compile_checks(book.policy.catalog), book.encoder_for)


def enterprise(seed: int = 7) -> dict[str, Any]:
    settings = Settings(catalog_dir=CATALOG.parent, city="chongqing")
    return as_debezium_json(RowFactory.for_settings(settings, seed=seed).enterprise())


def change(
    op: str, before: dict[str, Any] | None, after: dict[str, Any] | None, ts_ms: int = COMMIT_MS
) -> bytes:
    return debezium_bytes(op, before, after, table="enterprise", lsn=1, ts_ms=ts_ms, tx_id=1)


def test_the_counter_counts_present_values_only() -> None:
    rows = [{"a": 1, "b": None, "c": None}, {"a": "", "b": 0, "c": False}]
    pick = picker(("a", "b", "c"))
    assert count_nonnull(3, [pick(r) for r in rows]) == [2, 1, 1]
    assert count_nonnull(1, [picker(("b",))(r) for r in rows]) == [1]
    assert count_nonnull(2, []) == [0, 0]
    # A row without a field (its table lacks the column) counts it as null.
    pick = picker(("a", "c"))
    assert count_nonnull(2, [pick({"a": 1}), pick({"a": None, "c": 3})]) == [1, 1]


def test_a_batch_counts_seen_failed_images_fields_and_commits(router: BatchRouter) -> None:
    good, no_phone, bad = enterprise(1), enterprise(2), enterprise(3)
    no_phone["phone"] = None
    bad["uscc"] = bad["uscc"][:17] + ("0" if bad["uscc"][17] != "0" else "1")  # check character
    records = [
        raw_record(change("c", None, good), offset=1),
        raw_record(change("u", good, no_phone, ts_ms=COMMIT_MS + 5), offset=2),
        raw_record(change("c", None, bad), offset=3),
        raw_record(change("d", good, None, ts_ms=COMMIT_MS + 9), offset=4),
        raw_record(None, offset=5),  # Debezium's tombstone: no change of its own
    ]
    out = router.route_batch(records, NOW)
    assert out.quality is not None
    (tally,) = out.quality.tallies()
    assert (tally.department, tally.resource) == ("market", "market.enterprise")
    assert tally.seen == 4 and tally.invalid == {"code": 1} and tally.images == 3
    assert tally.samples == {"code": "uscc=x"}  # the builder's record key; public: shown whole
    # Completeness sums: key and required fields weigh 2 (9 of them), optional ones 1 (3).
    assert sum(tally.weights) == 21 and tally.weight == 3 * 21
    assert tally.filled == sum(w * n for w, n in zip(tally.weights, tally.nonnull, strict=True))
    nonnull = dict(zip(tally.fields, tally.nonnull, strict=True))
    assert nonnull["uscc"] == 3 and nonnull["phone"] == 2
    assert sorted(tally.commits_ms) == [COMMIT_MS, COMMIT_MS, COMMIT_MS + 5, COMMIT_MS + 9]
    assert tally.last_change_ms == COMMIT_MS + 9


def test_sources_of_no_resource_and_undecodable_records_count_for_nobody(router: BatchRouter) -> None:
    heartbeat = debezium_bytes(
        "u", None, {"id": 1, "ts": "x"}, table="heartbeat", lsn=1, ts_ms=COMMIT_MS, tx_id=1
    )
    out = router.route_batch([raw_record(b"{not json", offset=1), raw_record(heartbeat, offset=2)], NOW)
    assert out.quality is not None and out.quality.tallies() == []


def test_delivery_measures_latency_exactly_and_counts_the_late() -> None:
    tally = ResourceTally(
        "market", "market.enterprise", ("uscc",), seen=3, commits_ms=[1_000, 70_000, 100_000]
    )
    figures = delivered(tally, 121_000)
    assert figures.routed == 3 and figures.late == 1  # 120 s late; 51 s and 21 s are not past 60 s
    assert figures.latency_ms_sum == 120_000 + 51_000 + 21_000
    assert figures.nonnull == {"uscc": 0}


def test_a_minute_of_batches_is_one_row_per_resource(router: BatchRouter) -> None:
    tally = QualityTally()
    at = NOW.timestamp()
    for seed in range(5):
        tally.add(router.route_batch([raw_record(change("c", None, enterprise(seed)))], NOW), at)
    tally.add(router.route_batch([raw_record(change("c", None, enterprise(9)))], NOW), at + 60)
    rows = tally.drain()
    assert tally.drain() == []
    assert [(r.minute, r.resource, r.seen, r.routed) for r in rows] == [
        (NOW.replace(second=0), "market.enterprise", 5, 5),
        (NOW.replace(second=0).replace(minute=31), "market.enterprise", 1, 1),
    ]
    first = rows[0]
    assert first.images == 5 and first.invalid == {}
    assert dict(zip(first.fields, first.nonnull, strict=True))["uscc"] == 5
    assert first.latency_ms_sum == 5 * 150 and first.late == 0
    assert first.last_change == datetime.fromtimestamp(COMMIT_MS / 1000, UTC)


def test_merge_sums_figures_of_a_resource() -> None:
    a = delivered(ResourceTally("d", "d.r", ("f",), seen=2, invalid={"key": 1}, images=1, nonnull=[1]), 0)
    b = delivered(
        ResourceTally("d", "d.r", ("f",), seen=3, invalid={"key": 2, "type": 1}, images=2, nonnull=[1]), 0
    )
    (m,) = merge([a, b])
    assert (m.seen, m.invalid, m.images, m.nonnull) == (5, {"key": 3, "type": 1}, 3, {"f": 2})


def test_a_batch_quality_ignores_failures_of_resources_it_did_not_see() -> None:
    quality = BatchQuality({})
    quality.failed("market.enterprise", "code", lambda: "uscc=x")
    assert quality.tallies() == []
