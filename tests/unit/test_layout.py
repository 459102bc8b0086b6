"""The subscriber-topic layout: withdrawal bookkeeping and the migration plan (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.render import CaptureSpec, render_postgres
from sharebus.apps.layout.capture import plan_capture
from sharebus.apps.layout.migrate import plan_moves, record_fullname
from sharebus.catalog.models import Catalog, DemandStatus
from sharebus.core.settings import Settings
from streams.policy import compile_policy
from streams.router.withdraw import by_topic, decode_pairs, encode_pairs, in_force, next_change

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"test-pseudonym-key-32-bytes-long"


def test_the_migration_moves_only_per_resource_topics_to_their_department_topic() -> None:
    moves = plan_moves(
        ["share.500101.market.enterprise", "share.500101.market", "cdc.market.public.x", "dlq.market"]
    )
    assert [(m.legacy, m.topic, m.subscriber, m.resource) for m in moves] == [
        ("share.500101.market.enterprise", "share.500101.market", "500101", "market.enterprise")
    ]


def test_a_record_name_is_namespace_and_name() -> None:
    text = '{"type":"record","name":"Enterprise","namespace":"sharebus.chongqing.market","fields":[]}'
    assert record_fullname(text) == "sharebus.chongqing.market.Enterprise"
    assert record_fullname('{"type":"record","name":"a.B","fields":[]}') == "a.B"


def test_enforced_pairs_round_trip_compactly() -> None:
    pairs = frozenset({("500101", "market.enterprise"), ("500102", "market.enterprise"), ("x", "d.r")})
    raw = encode_pairs(pairs)
    assert raw == b'{"d.r":["x"],"market.enterprise":["500101","500102"]}'
    assert decode_pairs(raw) == pairs
    assert by_topic(pairs, lambda r: r.split(".")[0]) == {
        ("500101", "share.500101.market"): {"market.enterprise"},
        ("500102", "share.500102.market"): {"market.enterprise"},
        ("x", "share.x.d"): {"d.r"},
    }


def test_a_revoked_or_expired_demand_leaves_what_is_in_force(chongqing_catalog: Catalog) -> None:
    policy = compile_policy(chongqing_catalog, pseudonym_key=KEY)
    before = in_force(policy, NOW)
    assert ("500103", "realestate.certificate") in before
    revoked = [
        d.model_copy(update={"status": DemandStatus.REVOKED}) if d.id == "CQ-2025-0010" else d
        for d in chongqing_catalog.demands
    ]
    after = in_force(
        compile_policy(chongqing_catalog.model_copy(update={"demands": tuple(revoked)}), pseudonym_key=KEY),
        NOW,
    )
    assert before - after == {("500103", "realestate.certificate")}
    boundary = next_change(policy, NOW)
    assert boundary is not None and boundary > NOW


def test_a_publish_recompiles_only_the_resources_it_changes(chongqing_catalog: Catalog) -> None:
    policy = compile_policy(chongqing_catalog, pseudonym_key=KEY)
    revoked = [
        d.model_copy(update={"status": DemandStatus.REVOKED}) if d.id == "CQ-2025-0010" else d
        for d in chongqing_catalog.demands
    ]
    changed = chongqing_catalog.model_copy(update={"demands": tuple(revoked)})
    again = compile_policy(changed, pseudonym_key=KEY, previous=policy)
    fresh = compile_policy(changed, pseudonym_key=KEY)
    kept = {rid for rid in again.resources if again.resources[rid] is policy.resources[rid]}
    assert kept == set(policy.resources) - {"realestate.certificate"}
    assert again.entitlements(NOW) == fresh.entitlements(NOW)
    other_key = compile_policy(changed, pseudonym_key=b"another-pseudonym-key-32-bytes!!", previous=policy)
    assert not any(other_key.resources[r] is policy.resources[r] for r in policy.resources)


def test_entitlements_are_the_targets_the_routing_tables_hold(chongqing_catalog: Catalog) -> None:
    policy = compile_policy(chongqing_catalog, pseudonym_key=KEY)
    for now in (NOW, NOW + timedelta(days=400), NOW - timedelta(days=400)):
        from_tables = set()
        for res in policy.resources.values():
            table = res.table_at(now)
            for t in [t for ts in table.by_district.values() for t in ts] + list(table.everyone):
                from_tables.add((t.subscriber, res.id, t.topic, t.demand_id, t.fields, t.hidden))
        assert {tuple(e) for e in policy.entitlements(now)} == from_tables


def test_capture_moves_only_connectors_without_the_topic_router(chongqing_catalog: Catalog) -> None:
    market = chongqing_catalog.resource("market.enterprise")
    assert market is not None and market.source.connector == "cdc.market"
    spec = CaptureSpec("market", "dept_market", ("public.enterprise",), "127.0.0.1", 5432, "cdc")
    current = render_postgres(spec, Settings())
    legacy = {k: v for k, v in current.items() if not k.startswith("transforms")}
    topics = [
        "cdc.market.public.enterprise",  # the catalog's table: drained and deleted
        "cdc.market.public.scratch",  # captured, no resource reads it: left
        "cdc.market.sharebus.heartbeat",  # the bus's own table: not the router's
        "cdc.market",
        "share.500101.market",
    ]
    (move,) = plan_capture(
        {"cdc-market": legacy, "cdc-other": current, "mirror": legacy}, topics, chongqing_catalog
    )
    assert (move.connector, move.raw_topic) == ("cdc-market", "cdc.market")
    assert (move.routed, move.unrouted) == (["cdc.market.public.enterprise"], ["cdc.market.public.scratch"])
    assert plan_capture({"cdc-market": current}, topics, chongqing_catalog) == []
