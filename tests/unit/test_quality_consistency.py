"""Consistency rules (`references:`): the catalog checks them, the router keeps the referenced keys
in its index (and the keys topic) and counts each referencing value it does not find, or
dead-letters it when the rule says so; the scorecard's consistency indicator."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.encoder import SchemaBook
from sharebus.catalog.issues import CatalogError
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, FieldSpec
from sharebus.core.gbcodes import usci_check_char
from sharebus.testing.builders import USCC, debezium_bytes, raw_record, sample_enterprise
from streams.key_index import PRESENT, KeyIndex, decode_entry, entry_key
from streams.quality import Check, compile_checks
from streams.quality_score import Figures, consistency, score_resource
from streams.router.batch import BatchRouter
from streams.router.lanes import LaneBook

CQ = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
NOW = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
KEYS = "sharebus.catalog.keys"
OTHER = "91500103MA5U00002" + usci_check_char("91500103MA5U00002")  # valid, never registered


def inspection(id_: int, uscc: str | None) -> dict[str, Any]:
    return {
        "id": id_,
        "uscc": uscc,
        "district_code": "500103",
        "finding": "x",
        "inspector": "李四",
        "inspected_at": "2026-06-01T08:00:00Z",
    }


def record(op: str, before: Any, after: Any, table: str, offset: int) -> Any:
    return raw_record(debezium_bytes(op, before, after, table=table, ts_ms=1), offset=offset)


def catalog_with(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "chongqing"
    shutil.copytree(CQ, folder)
    text = (folder / "catalog.yaml").read_text(encoding="utf-8")
    assert old in text
    (folder / "catalog.yaml").write_text(text.replace(old, new), "utf-8")
    return folder


RULE = "references: market.enterprise,"


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        ("references: market.nope,", "unknown resource 'market.nope'"),
        ("references: market.inspection,", "a field of type integer"),
        ("references: {resource: market.enterprise, dead: 1},", "dead"),
    ],
)
def test_the_catalog_refuses_a_rule_that_cannot_be_looked_up(tmp_path: Path, new: str, problem: str) -> None:
    folder = catalog_with(tmp_path, RULE, new)
    with pytest.raises(CatalogError) as caught:
        load_catalog(folder)
    assert problem in str(caught.value) and "market.inspection" in str(caught.value)


def test_a_key_of_several_fields_cannot_be_referenced(tmp_path: Path) -> None:
    folder = catalog_with(tmp_path, "primary_key: [uscc]", "primary_key: [uscc, name]")
    with pytest.raises(CatalogError, match="a key of 2 fields"):
        load_catalog(folder)


def test_an_unset_rule_leaves_the_catalog_version_as_it_was() -> None:
    spec = FieldSpec(name="a", type="string", grade="public")  # type: ignore[arg-type]
    assert "references" not in spec.model_dump(mode="json")
    ruled = FieldSpec(name="a", type="string", grade="public", references="market.enterprise")  # type: ignore[arg-type]
    assert ruled.model_dump(mode="json")["references"] == {
        "resource": "market.enterprise",
        "dead_letter": False,
    }


def test_the_index_round_trips_through_the_keys_topic() -> None:
    index = KeyIndex()
    assert index.add("market.enterprise", USCC) and not index.add("market.enterprise", USCC)
    again = KeyIndex()
    again.apply(entry_key("market.enterprise", USCC), PRESENT)
    assert again.has("market.enterprise", USCC) and again.size("market.enterprise") == 1
    again.apply(entry_key("market.enterprise", USCC), None)
    assert not again.has("market.enterprise", USCC)
    again.apply(b"not json", PRESENT)
    again.apply(orjson.dumps({"a": 1}), PRESENT)
    assert decode_entry(b"[1,2]") is None and again.size("market.enterprise") == 0


def test_a_batch_keeps_the_index_and_counts_references_it_does_not_find(book: SchemaBook) -> None:
    router = BatchRouter(book.policy, compile_checks(book.policy.catalog), book.encoder_for, keys_topic=KEYS)
    renamed = sample_enterprise(uscc=OTHER)
    out = router.route_batch(
        [
            record("c", None, sample_enterprise(), "enterprise", 1),
            record("c", None, inspection(1, USCC), "inspection", 2),  # found
            record("c", None, inspection(2, OTHER), "inspection", 3),  # not (yet)
            record("u", sample_enterprise(), renamed, "enterprise", 5),  # the key changed
            record("c", None, inspection(4, USCC), "inspection", 6),  # gone since
        ],
        NOW,
    )
    assert out.quality is not None
    tally = next(t for t in out.quality.tallies() if t.resource == "market.inspection")
    assert (tally.refs, tally.unmatched) == (3, {"reference:uscc": 2})  # checked: 3, not found: 2
    assert tally.samples["reference:uscc"] == "id=***"  # its key, as the field may be shown
    assert [t.refs for t in out.quality.tallies() if t.resource == "market.enterprise"] == [0]
    keys = [(m.key, m.value) for m in out.messages if m.topic == KEYS]
    assert keys == [
        (entry_key("market.enterprise", USCC), PRESENT),
        (entry_key("market.enterprise", USCC), None),
        (entry_key("market.enterprise", OTHER), PRESENT),
    ]
    # Not dead-lettered: the inspections go where they would have gone (nowhere: not shared).
    assert not [m for m in out.messages if m.topic.startswith("dlq.")]


def test_a_rule_with_dead_letter_sends_a_mismatch_to_the_dead_letters(tmp_path: Path) -> None:
    folder = catalog_with(tmp_path, RULE, "references: {resource: market.enterprise, dead_letter: true},")
    catalog = load_catalog(folder)
    checks = compile_checks(catalog)
    from sharebus.testing.builders import debezium_event

    found, missing = (debezium_event("c", None, inspection(n, USCC), table="inspection") for n in (1, 2))
    checks.keys.add("market.enterprise", USCC)
    assert checks.check_event(found).ok
    missing["after"]["uscc"] = OTHER
    verdict = checks.check_event(missing)
    assert [(f.check, f.field) for f in verdict.failures] == [(Check.REFERENCE, "uscc")]
    assert "not a key of market.enterprise" in verdict.reason
    # No fast lane for its resource: every record is looked up on the general path.
    assert (
        LaneBook(compile_policy_of(catalog), checks).lane(("cdc.market", "public", "inspection"), NOW) is None
    )


def compile_policy_of(catalog: Catalog) -> Any:
    from streams.policy.compiled import compile_policy

    return compile_policy(catalog, pseudonym_key=b"k" * 32)


def test_the_index_survives_a_catalog_change(chongqing_catalog: Catalog) -> None:
    first = compile_checks(chongqing_catalog)
    first.keys.add("market.enterprise", USCC)
    assert compile_checks(chongqing_catalog, previous=first).keys is first.keys
    assert first.resources["market.enterprise"].index_key == "uscc"
    assert first.resources["hrss.social_insurance"].references[0].resource == "market.enterprise"


def test_consistency_is_the_share_of_references_found(chongqing_catalog: Catalog) -> None:
    assert consistency(0, 0) == 1.0 and consistency(4, 1) == 0.75
    res = chongqing_catalog.resource("market.inspection")
    assert res is not None
    figures = Figures(seen=4, images=4, refs=4, mismatched=1)
    scored = score_resource(res, "unit", figures, NOW, NOW)
    assert scored.consistency == 0.75
    assert "1 of 4 references not found: uscc → market.enterprise" in scored.problems
