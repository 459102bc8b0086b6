"""The router through the real stack: Debezium → raw topics → `sharebus worker` → subscriber topics."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from psycopg import sql

from connectors.render import CaptureSpec
from sharebus.core import naming
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.naming import H_CHECK, H_DEMAND, H_LSN, H_OP, H_POLICY, H_REASON
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.kafka import wait_for_records
from sharebus.testing.ports import free_port
from streams.router.live_catalog import publish_catalog
from tests.integration.router_harness import (
    Read,
    RouterProcess,
    keys_of,
    read_share,
    read_topic,
    set_demands,
    topic_sizes,
    worker_env,
    write_catalog,
)

pytestmark = pytest.mark.integration

Insert = Callable[[str, dict[str, Any]], None]


@pytest.fixture
def factory(stack_settings: Settings) -> RowFactory:
    return RowFactory.for_settings(stack_settings, seed=time.time_ns() % 1_000_000)


def db_writer(settings: Settings, database: str) -> Callable[[str, str, dict[str, Any]], None]:
    def write(kind: str, table: str, row: dict[str, Any]) -> None:
        ident = sql.Identifier("public", table)
        with psycopg.connect(settings.pg_dsn(database), autocommit=True) as conn:
            if kind == "insert":
                conn.execute(
                    sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        ident,
                        sql.SQL(", ").join(map(sql.Identifier, row)),
                        sql.SQL(", ").join(sql.Placeholder() * len(row)),
                    ),
                    list(row.values()),
                )
            else:
                (pk, pkv), *sets = row.items()
                conn.execute(
                    sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
                        ident,
                        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k, _ in sets),
                        sql.Identifier(pk),
                    ),
                    [v for _, v in sets] + [pkv],
                )

    return write


def sample_catalog(tmp_path: Path, market: CaptureSpec, realestate: CaptureSpec) -> Path:
    """The sample catalog with the departments renamed to the test's own capture connectors."""
    return write_catalog(
        tmp_path / "catalog", {"market": market.department, "realestate": realestate.department}
    )


def enterprises(
    settings: Settings,
    dept: str,
    subscriber: str,
    *,
    until: Callable[[list[Read]], bool],
    timeout: float = 30.0,
) -> list[Read]:
    """A subscriber's records of the (renamed) enterprise resource."""
    return read_share(settings, subscriber, f"{dept}.enterprise", until=until, timeout=timeout)


def test_districts_get_only_their_own_rows_masked_and_moves_leave_and_arrive(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    factory: RowFactory,
    tmp_path: Path,
) -> None:
    market, realestate = capture_factory("market"), capture_factory("realestate")
    catalog = sample_catalog(tmp_path, market, realestate)
    router_factory(catalog)
    write = db_writer(stack_settings, "dept_market")
    a, b, c = "500101", "500102", "500103"
    rows = {}
    for code in (a, a, b, c):
        row = factory.enterprise()
        row["district_code"] = code
        write("insert", "enterprise", row)
        rows[row["uscc"]] = row
    mover = next(r for r in rows.values() if r["district_code"] == a)
    write("update", "enterprise", {"uscc": mover["uscc"], "district_code": b})

    dept = market.department
    mine = set(rows)  # other writers may change the same sample table meanwhile: judge our rows only

    def ours(reads: list[Read]) -> list[Read]:
        return [r for r in reads if r.key["uscc"] in mine]

    in_a = ours(
        enterprises(
            stack_settings,
            dept,
            a,
            until=lambda rs: (
                len([r for r in ours(rs) if r.value is not None]) >= 2
                and any(r.value is None for r in ours(rs))
            ),
        )
    )
    in_b = ours(enterprises(stack_settings, dept, b, until=lambda rs: len(ours(rs)) >= 2))
    in_c = ours(enterprises(stack_settings, dept, c, until=lambda rs: len(ours(rs)) >= 1))
    # Each district sees only rows of its own district.
    for reads, code in ((in_a, a), (in_b, b), (in_c, c)):
        assert all(r.value["district_code"] == code for r in reads if r.value is not None), code
    assert len([r for r in in_a if r.value is not None]) == 2
    # The mover: full row in A, then a tombstone in A, and the full row in B.
    assert [r.value is None for r in in_a if r.key["uscc"] == mover["uscc"]] == [False, True]
    moved = [r for r in in_b if r.key["uscc"] == mover["uscc"]]
    assert len(moved) == 1 and moved[0].value["district_code"] == b
    # Masks: sensitive fields never in clear for districts.
    for r in in_a + in_b + in_c:
        if r.value is None:
            continue
        original = rows[r.key["uscc"]]
        assert r.value["legal_rep_id"] != original["legal_rep_id"]
        assert r.value["legal_rep_id"] == original["legal_rep_id"][:6] + "*" * 12  # the region only
        # The sample generator leaves 5% of the phones null: a null stays null, masked or not.
        assert ("*" in r.value["phone"]) if original["phone"] is not None else r.value["phone"] is None
        assert r.headers[H_POLICY] and r.headers[H_DEMAND] and r.headers[H_LSN]


def test_not_shared_resource_reaches_no_subscriber_topic(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    factory: RowFactory,
    tmp_path: Path,
) -> None:
    market, realestate = capture_factory("market"), capture_factory("realestate")
    catalog = sample_catalog(tmp_path, market, realestate)
    router_factory(catalog)
    write = db_writer(stack_settings, "dept_market")
    ent = factory.enterprise()
    write("insert", "enterprise", ent)
    for _ in range(5):
        write(
            "insert",
            "inspection",
            factory.inspection(ent["uscc"], ent["district_code"]) | {"id": time.time_ns() % 10**12},
        )
    # The enterprise arrives (so the router has run past the inspections' offsets)…
    enterprises(
        stack_settings,
        market.department,
        ent["district_code"],
        until=lambda rs: keys_of(rs, "uscc") >= {ent["uscc"]},
    )
    time.sleep(1.0)
    # …and no subscriber topic of the inspection resource exists or holds anything.
    inspection = f"{market.department}.inspection"
    reads = read_topic(
        stack_settings,
        f"share.{ent['district_code']}.{market.department}",
        until=lambda rs: ent["uscc"] in {r.key.get("uscc") for r in rs},
    )
    assert not [r for r in reads if r.resource == inspection]
    sizes = topic_sizes(stack_settings, "share.")
    assert not [t for t, n in sizes.items() if t.endswith(f".{market.department}.inspection") and n > 0]


def test_conditional_flows_after_approval_with_approved_fields_and_stops_on_revocation(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    factory: RowFactory,
    tmp_path: Path,
) -> None:
    market = capture_factory("market")
    realestate = capture_factory("realestate")
    dept = realestate.department
    district = "500107"
    now = datetime.now(UTC)
    demand = {
        "id": "T-1",
        "subscriber": district,
        "resource": f"{dept}.certificate",
        "purpose": "test",
        "status": "pending",
        "fields": ["cert_no", "area_m2", "use", "district_code"],
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
    }
    everyone = {
        "id": "T-0",
        "subscriber": "all-districts",
        "resource": f"{market.department}.enterprise",
        "purpose": "test",
        "status": "approved",
        "approver": "test",
        "valid_from": (now - timedelta(days=1)).isoformat(),
    }
    catalog = write_catalog(
        tmp_path / "catalog", {"market": market.department, "realestate": dept}, [everyone, demand]
    )
    router = router_factory(catalog)
    write = db_writer(stack_settings, "dept_realestate")
    resource = f"{dept}.certificate"

    def certificate() -> dict[str, Any]:
        row = factory.certificate(time.time_ns() % 10**7)
        row["district_code"] = district
        write("insert", "certificate", row)
        return row

    pending_row = certificate()
    time.sleep(3.0)
    topic = f"share.{district}.{dept}"
    assert topic_sizes(stack_settings, topic).get(topic, 0) == 0, "delivered while the demand was pending"

    set_demands(catalog, [everyone, {**demand, "status": "approved", "approver": "test"}])
    publish_catalog(router.settings)
    time.sleep(2.0)  # live policy: no restart
    approved_row = certificate()
    reads = read_share(
        stack_settings,
        district,
        resource,
        until=lambda rs: keys_of(rs, "cert_no") >= {approved_row["cert_no"]},
    )
    assert pending_row["cert_no"] not in keys_of(reads, "cert_no")
    value = next(r.value for r in reads if r.key["cert_no"] == approved_row["cert_no"])
    assert set(value) == {"cert_no", "area_m2", "use", "district_code"}  # only the approved fields

    set_demands(catalog, [everyone, {**demand, "status": "revoked", "approver": "test"}])
    publish_catalog(router.settings)
    time.sleep(2.0)
    revoked_row = certificate()
    marker = factory.enterprise()
    db_writer(stack_settings, "dept_market")("insert", "enterprise", marker)
    enterprises(
        stack_settings,
        market.department,
        marker["district_code"],
        until=lambda rs: keys_of(rs, "uscc") >= {marker["uscc"]},
    )
    # Withdrawn: every row the district had of the resource is tombstoned in its topic.
    final = read_share(
        stack_settings,
        district,
        resource,
        until=lambda rs: any(r.headers.get(H_OP) == b"withdraw" for r in rs),
    )
    assert revoked_row["cert_no"] not in keys_of(final, "cert_no")
    latest = {r.key["cert_no"]: r for r in final}
    assert latest[approved_row["cert_no"]].value is None
    assert latest[approved_row["cert_no"]].headers[H_OP] == b"withdraw"


def test_a_worker_that_missed_a_revocation_withdraws_when_it_starts(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    factory: RowFactory,
    tmp_path: Path,
) -> None:
    """The demand is revoked while no worker runs: the next worker compares what it enforces with
    the record the last one left (`<catalog topic>.entitlements`) and tombstones the rows."""
    market, realestate = capture_factory("market"), capture_factory("realestate")
    dept, district = realestate.department, "500108"
    now = datetime.now(UTC)
    demand = {
        "id": "T-W",
        "subscriber": district,
        "resource": f"{dept}.certificate",
        "purpose": "test",
        "status": "approved",
        "approver": "test",
        "fields": ["cert_no", "area_m2", "use", "district_code"],
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
    }
    catalog = write_catalog(tmp_path / "catalog", {"market": market.department, "realestate": dept}, [demand])
    router = router_factory(catalog)
    row = factory.certificate(time.time_ns() % 10**7)
    row["district_code"] = district
    db_writer(stack_settings, "dept_realestate")("insert", "certificate", row)
    resource = f"{dept}.certificate"
    read_share(stack_settings, district, resource, until=lambda rs: row["cert_no"] in keys_of(rs, "cert_no"))
    wait_for_records(stack_settings, naming.entitlements_topic(router.settings.catalog_topic), 1)
    router.kill()
    set_demands(catalog, [{**demand, "status": "revoked"}])
    publish_catalog(router.settings)
    router.start()
    final = read_share(
        stack_settings,
        district,
        resource,
        until=lambda rs: any(r.headers.get(H_OP) == b"withdraw" for r in rs),
    )
    latest = {r.key["cert_no"]: r for r in final}
    assert latest[row["cert_no"]].value is None and latest[row["cert_no"]].headers[H_OP] == b"withdraw"


def test_a_malformed_event_lands_in_the_dead_letter_topic_with_its_reason(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    factory: RowFactory,
    tmp_path: Path,
) -> None:
    market, realestate = capture_factory("market"), capture_factory("realestate")
    catalog = sample_catalog(tmp_path, market, realestate)
    router_factory(catalog)
    raw_topic = market.raw_topic
    producer = Producer(kafka_config(stack_settings))
    producer.produce(raw_topic, b'{"op": "c", "after": {broken', b'{"uscc":"BROKEN"}')
    bad = factory.enterprise()
    bad["uscc"] = bad["uscc"][:17] + ("0" if bad["uscc"][17] != "0" else "1")  # wrong check character
    db_writer(stack_settings, "dept_market")("insert", "enterprise", bad)
    assert producer.flush(10) == 0
    dlq = f"dlq.{market.department}"
    reads: list[Read] = read_topic(stack_settings, dlq, decode=lambda b: b, until=lambda rs: len(rs) >= 2)
    by_check = {r.headers[H_CHECK].decode(): r for r in reads}
    assert by_check["decode"].value == b'{"op": "c", "after": {broken'
    assert b"uscc" in by_check["code"].headers[H_REASON]
    # Never delivered half-checked.
    sizes = topic_sizes(stack_settings, f"share.{bad['district_code']}.{market.department}")
    read_back = (
        enterprises(stack_settings, market.department, bad["district_code"], until=lambda rs: True)
        if sum(sizes.values())
        else []
    )
    assert bad["uscc"] not in keys_of(read_back, "uscc")
    with psycopg.connect(stack_settings.pg_dsn("dept_market"), autocommit=True) as conn:
        conn.execute("DELETE FROM public.enterprise WHERE uscc = %s", (bad["uscc"],))  # keep the sample clean


def test_killing_the_worker_mid_stream_loses_nothing(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    factory: RowFactory,
    tmp_path: Path,
) -> None:
    """At-least-once: a SIGKILLed worker restarts from its last committed offsets, and every
    change committed at the source arrives (re-deliveries are idempotent keyed upserts)."""
    market, realestate = capture_factory("market"), capture_factory("realestate")
    catalog = sample_catalog(tmp_path, market, realestate)
    router = router_factory(catalog)
    districts = ("500101", "500102")
    inserted: dict[str, set[str]] = {d: set() for d in districts}
    with psycopg.connect(stack_settings.pg_dsn("dept_market"), autocommit=True) as conn:
        for i in range(1200):
            row = factory.enterprise()
            row["district_code"] = districts[i % 2]
            conn.execute(
                sql.SQL("INSERT INTO public.enterprise ({}) VALUES ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, row)),
                    sql.SQL(", ").join(sql.Placeholder() * len(row)),
                ),
                list(row.values()),
            )
            inserted[row["district_code"]].add(row["uscc"])
            if i == 400:
                router.kill()  # mid-stream, no flush, no commit
            if i == 700:
                router.start()
    for code in districts:
        reads = enterprises(
            stack_settings,
            market.department,
            code,
            until=lambda rs, c=code: keys_of(rs, "uscc") >= inserted[c],
            timeout=60,
        )
        assert keys_of(reads, "uscc") >= inserted[code]


def test_a_worker_that_cannot_reach_the_registry_exits_non_zero_naming_it(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    tmp_path: Path,
) -> None:
    market = capture_factory("market")
    catalog = write_catalog(tmp_path / "catalog", {"market": market.department})
    env = {
        **worker_env(stack_settings, catalog, tmp_path, lambda prefix: f"{prefix}-{market.department}"),
        "SHAREBUS_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
        # It waits a registry out as it waits Kafka out: for this long, asking again meanwhile.
        "SHAREBUS_KAFKA_OUTAGE_TOLERANCE": "4",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "sharebus", "worker"], env=env, capture_output=True, text=True, timeout=120
    )
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "registry" in said.lower() and "does not answer, for 4 s" in said, said[-2000:]
    assert "asking again" in said
