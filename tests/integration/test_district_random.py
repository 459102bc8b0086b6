"""The issue's acceptance test: random inserts, updates, deletes and district moves on both sample
departments; the router and `district sync` processes SIGKILLed and restarted at random points;
a field added to a source table (and the catalog) mid-run — then `reconcile` reports no
difference for any synced subscriber within seconds of quiescence."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from connectors.render import CaptureSpec
from sharebus.core.settings import Settings
from sharebus.dev.samples.departments import districts_csv, load_districts
from sharebus.dev.samples.rows import RowFactory
from streams.router.live_catalog import publish_catalog
from tests.integration.conftest import SyncProcess
from tests.integration.router_harness import RouterProcess
from tests.integration.test_district_sync import add_field, district_rows, insert, settle, wait_policy

pytestmark = pytest.mark.integration

ROWS_IN = ("500101", "500103", "500105", "500112")  # where rows are born
MOVES_TO = (*ROWS_IN, "500102")  # 500102: rows only arrive there by moving
SUBSCRIBERS = ("500101", "500102", "500103", "500105", "500112", "civil-affairs", "liangjiang")
CHANGES = 320


@dataclass
class Table:
    """One source table and the live keys the driver may change."""

    name: str
    key: str
    conn: psycopg.Connection[Any]
    make: Callable[[], dict[str, Any]]
    alive: dict[str, str] = field(default_factory=dict)  # key -> district
    gone: list[dict[str, Any]] = field(default_factory=list)  # deleted rows, some re-inserted

    def run(self, stmt: str, *args: Any) -> int:
        return self.conn.execute(sql.SQL(stmt).format(sql.Identifier("public", self.name)), args).rowcount


class Driver:
    """Random changes, one per transaction; counts what it did."""

    def __init__(self, rng: random.Random, factory: RowFactory, tables: list[Table]) -> None:
        self.rng, self.factory, self.tables = rng, factory, tables
        self.counts: dict[str, int] = {}
        self.employees = False  # the added column exists at the source

    def change(self) -> None:
        t = self.rng.choice(self.tables)
        op = self.rng.choices(("insert", "update", "move", "delete", "reinsert"), (3, 4, 1.5, 1.2, 0.3))[0]
        if not t.alive or (op == "reinsert" and not t.gone):
            op = "insert"
        getattr(self, "_" + op)(t)
        self.counts[op] = self.counts.get(op, 0) + 1

    def _extra(self, t: Table) -> dict[str, Any]:
        if self.employees and t.name == "enterprise":
            return {"employees": self.rng.choice((None, self.rng.randrange(1, 5000)))}
        return {}

    def _insert(self, t: Table, row: dict[str, Any] | None = None) -> None:
        row = (row or t.make()) | self._extra(t)
        insert(t.conn, t.name, [row])
        t.alive[row[t.key]] = row["district_code"]

    def _reinsert(self, t: Table) -> None:
        row = t.gone.pop(self.rng.randrange(len(t.gone)))
        row["district_code"] = self.rng.choice(MOVES_TO)
        self._insert(t, {k: v for k, v in row.items() if k != "employees"})

    def _update(self, t: Table) -> None:
        key, f = self.rng.choice(list(t.alive)), self.factory
        now = datetime.now(UTC)
        if t.name == "enterprise":
            values = {
                "status": f.status(),
                "phone": f.phone() if self.rng.random() < 0.8 else None,
                "reg_capital": f.reg_capital(),
                "name": f.company_name(),
            }
        else:
            use, area = f.area_and_use()
            values = {"use": use, "area_m2": area, "owner_name": f.person_name()}
        values = {**dict(self.rng.sample(sorted(values.items()), 2)), "updated_at": now, **self._extra(t)}
        sets = ", ".join(f"{c} = %s" for c in values)
        t.run(f"UPDATE {{}} SET {sets} WHERE {t.key} = %s", *values.values(), key)

    def _move(self, t: Table) -> None:
        key = self.rng.choice(list(t.alive))
        code = self.rng.choice([c for c in MOVES_TO if c != t.alive[key]])
        t.run(f"UPDATE {{}} SET district_code = %s, updated_at = now() WHERE {t.key} = %s", code, key)
        t.alive[key] = code

    def _delete(self, t: Table) -> None:
        key = self.rng.choice(list(t.alive))
        stmt = sql.SQL("DELETE FROM {} WHERE {} = %s RETURNING *")
        cur = t.conn.execute(stmt.format(sql.Identifier("public", t.name), sql.Identifier(t.key)), (key,))
        row = cur.fetchone()
        del t.alive[key]
        if row is not None:
            t.gone.append(dict(zip([d.name for d in cur.description or ()], row, strict=True)))


@dataclass
class TwoDepartments:
    """A seeded random scenario: the market and real-estate samples, each in a database of the
    test's own (seeded with 60 enterprises and 40 certificates, captured), the catalog naming
    them, and the row makers the driver uses."""

    seed: int
    rng: random.Random
    factory: RowFactory
    enterprise: Callable[[], dict[str, Any]]
    certificate: Callable[[], dict[str, Any]]
    initial_e: list[dict[str, Any]]
    initial_c: list[dict[str, Any]]
    market: CaptureSpec
    realestate: CaptureSpec
    catalog: Path

    @property
    def resources(self) -> list[str]:
        return [f"{self.market.department}.enterprise", f"{self.realestate.department}.certificate"]

    @property
    def departments(self) -> list[str]:
        return [self.market.department, self.realestate.department]

    def tables(self, mconn: psycopg.Connection[Any], rconn: psycopg.Connection[Any]) -> list[Table]:
        """The driver's tables over these connections, knowing the seeded rows."""
        return [
            Table(
                "enterprise",
                "uscc",
                mconn,
                self.enterprise,
                {r["uscc"]: r["district_code"] for r in self.initial_e},
            ),
            Table(
                "certificate",
                "cert_no",
                rconn,
                self.certificate,
                {r["cert_no"]: r["district_code"] for r in self.initial_c},
            ),
        ]


def two_departments(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
) -> TwoDepartments:
    seed = time.time_ns() % 1_000_000
    rng = random.Random(seed)
    print(f"random seed {seed}")
    districts = [d for d in load_districts(districts_csv(stack_settings)) if d.code in ROWS_IN]
    factory = RowFactory(districts, city=stack_settings.city, seed=seed)
    seq = iter(range(rng.randrange(10**6), 10**7))

    def certificate() -> dict[str, Any]:
        return factory.certificate(next(seq))

    initial_e = [factory.enterprise() for _ in range(60)]
    initial_c = [certificate() for _ in range(40)]
    market = source_db_factory("market", lambda conn: insert(conn, "enterprise", initial_e))
    realestate = source_db_factory("realestate", lambda conn: insert(conn, "certificate", initial_c))
    catalog = catalog_factory(market=market, realestate=realestate)
    return TwoDepartments(
        seed, rng, factory, factory.enterprise, certificate, initial_e, initial_c, market, realestate, catalog
    )


def test_random_changes_with_crashes_and_a_new_field_reconcile_to_zero_differences(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    sync_factory: Callable[..., SyncProcess],
    district_db: dict[str, str],
) -> None:
    t0 = time.monotonic()
    scene = two_departments(stack_settings, source_db_factory, catalog_factory)
    rng, factory, market, realestate = scene.rng, scene.factory, scene.market, scene.realestate
    catalog, resources = scene.catalog, scene.resources
    router = router_factory(catalog)
    settings, url = router.settings, district_db["url"]
    only = [arg for r in resources for arg in ("--resource", r)]
    syncs = {s: sync_factory(router, s, url, *only) for s in SUBSCRIBERS}

    setup = time.monotonic() - t0
    # The schedule, drawn at random: the field is added while the router runs (so the policy swap
    # is seen); two district syncs are killed while records flow; the router is killed once and
    # restarts in the background while the changes go on; two syncs are killed again as it
    # catches up.
    field_at, syncs1, crash = rng.randrange(30, 60), rng.randrange(70, 110), rng.randrange(100, 150)
    restarting: list[threading.Thread] = []
    killed: list[SyncProcess] = []
    events: list[str] = []

    def kill_router(i: int) -> None:
        router.kill()
        events.append(f"{i} @{time.monotonic() - t0:.0f}s: router killed")

    def restart_router(i: int) -> None:  # in the background: the changes go on meanwhile
        restarting.append(threading.Thread(target=router.start, daemon=True))
        restarting[-1].start()
        events.append(f"{i} @{time.monotonic() - t0:.0f}s: router restarting")

    def kill_syncs(i: int) -> None:
        for sub in rng.sample(SUBSCRIBERS, 2):
            syncs[sub].kill()
            killed.append(syncs[sub])
            events.append(f"{i} @{time.monotonic() - t0:.0f}s: sync {sub} killed")

    def restart_syncs(i: int) -> None:
        while killed:
            killed.pop().start()
        events.append(f"{i} @{time.monotonic() - t0:.0f}s: syncs restarted")

    schedule: dict[int, list[Callable[[int], None]]] = {}
    for at, action in (
        (syncs1, kill_syncs),
        (syncs1 + rng.randrange(5, 20), restart_syncs),
        (crash, kill_router),
        (crash + 1, restart_router),
    ):
        schedule.setdefault(at, []).append(action)

    with (
        psycopg.connect(stack_settings.pg_dsn(market.db_name), autocommit=True) as mconn,
        psycopg.connect(stack_settings.pg_dsn(realestate.db_name), autocommit=True) as rconn,
    ):
        driver = Driver(rng, factory, scene.tables(mconn, rconn))
        t1 = time.monotonic()
        for i in range(CHANGES):
            for action in schedule.get(i, ()):
                action(i)
            if i == field_at:
                add_field(catalog, resources[0], "{name: employees, type: integer, grade: public}")
                wait_policy(router, publish_catalog(settings).version)
                mconn.execute("ALTER TABLE enterprise ADD COLUMN employees bigint")
                driver.employees = True
                events.append(f"{i} @{time.monotonic() - t0:.0f}s: field employees added")
            driver.change()
            time.sleep(rng.uniform(0.0, 0.08))
        for thread in restarting:
            thread.join(120)
        time.sleep(rng.uniform(0.0, 0.5))  # the router catches up on what changed while it was down…
        kill_syncs(CHANGES)  # …and syncs die meanwhile
        time.sleep(rng.uniform(0.5, 2.0))
        restart_syncs(CHANGES)
    quiet = time.monotonic()
    print(
        f"setup {setup:.1f}s; {CHANGES} changes in {quiet - t1:.1f}s: {driver.counts}; " + "; ".join(events)
    )
    assert router.alive() and all(p.alive() for p in syncs.values()), "a process died"

    reports = settle(settings, SUBSCRIBERS, url, resources=resources, sync=False, timeout=90)
    print(f"reconciled {len(reports)} subscribers {time.monotonic() - quiet:.1f}s after the last change")
    for sub, report in reports.items():
        assert report.differences == 0, report.to_dict()
        print(f"  {sub}: " + ", ".join(f"{r.resource} {r.district} rows" for r in report.resources))
    assert sum(r.district for rep in reports.values() for r in rep.resources) > 100
    added = district_rows(district_db["admin_dsn"], "500101", resources[0].replace(".", "_"))
    assert all("employees" in row for row in added.values())  # the column was added on the way
    assert any(isinstance(row.get("reg_capital"), Decimal) for row in added.values())
