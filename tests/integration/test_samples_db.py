"""Sample department databases against a real PostgreSQL: schema, CDC grants, seeding and the
paced change generator."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from sharebus.core.settings import Settings
from sharebus.dev.samples.database import apply_schema
from sharebus.dev.samples.departments import DEPARTMENTS, get_department, load_districts
from sharebus.dev.samples.generator import OPS, ChangeGenerator, seed

pytestmark = pytest.mark.integration


def query(settings: Settings, dbname: str, stmt: str, *args: Any) -> Any:
    with psycopg.connect(settings.pg_dsn(dbname), autocommit=True) as conn:
        row = conn.execute(stmt, args).fetchone()
        assert row is not None
        return row[0]


def row_counts(settings: Settings) -> dict[str, int]:
    return {
        table: query(settings, dept.database, f"SELECT count(*) FROM {table}")
        for dept in DEPARTMENTS
        for table in dept.tables
    }


@pytest.fixture(scope="module")
def schema(stack_settings: Settings) -> Settings:
    for dept in DEPARTMENTS:
        apply_schema(stack_settings, dept)
    return stack_settings


def test_apply_schema_twice_and_grants_the_cdc_role(stack_settings: Settings) -> None:
    for _ in range(2):
        for dept in DEPARTMENTS:
            apply_schema(stack_settings, dept)
    cdc = stack_settings.pg_cdc_user
    assert query(
        stack_settings,
        "postgres",
        "SELECT rolcanlogin AND rolreplication FROM pg_roles WHERE rolname = %s",
        cdc,
    )
    for dept in DEPARTMENTS:
        db = dept.database
        assert query(stack_settings, db, "SELECT has_database_privilege(%s, %s, 'CONNECT')", cdc, db)
        for schema_name in ("public", "sharebus"):
            assert query(stack_settings, db, "SELECT has_schema_privilege(%s, %s, 'USAGE')", cdc, schema_name)
        for table in (*dept.tables, "sharebus.debezium_signal", "sharebus.heartbeat"):
            assert query(stack_settings, db, "SELECT has_table_privilege(%s, %s, 'SELECT')", cdc, table)
        for table in dept.tables:
            # Full before-images: the router needs the old district of a moved row.
            assert (
                query(stack_settings, db, "SELECT relreplident FROM pg_class WHERE oid = %s::regclass", table)
                == "f"
            )
        for table in ("sharebus.debezium_signal", "sharebus.heartbeat"):
            assert query(
                stack_settings,
                db,
                "SELECT has_table_privilege(%s, %s, 'INSERT')"
                " AND has_table_privilege(%s, %s, 'UPDATE')"
                " AND has_table_privilege(%s, %s, 'DELETE')",
                cdc,
                table,
                cdc,
                table,
                cdc,
                table,
            )
        assert not query(
            stack_settings, db, "SELECT has_table_privilege(%s, %s, 'INSERT')", cdc, dept.tables[0]
        )


def test_seed_inserts_rows_once_per_seed(schema: Settings) -> None:
    # A seed of its own per run: rows of earlier runs never collide with this one's.
    run_seed = int(time.time() * 1000) % 1_000_000
    before = row_counts(schema)
    progress: list[tuple[int, int]] = []
    n = 2500
    assert (
        seed(schema, "market", n, seed=run_seed, progress=lambda done, total: progress.append((done, total)))
        == 2 * n
    )
    assert seed(schema, "realestate", n, seed=run_seed) == n
    after = row_counts(schema)
    assert {t: after[t] - before[t] for t in after} == {
        "public.enterprise": n,
        "public.inspection": n,
        "public.certificate": n,
    }
    assert progress[-1] == (2 * n, 2 * n) and len(progress) == 6  # batches of 1000
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    # Same seed again: every key exists, nothing is inserted.
    assert seed(schema, "market", n, seed=run_seed) == 0
    assert seed(schema, "realestate", n, seed=run_seed) == 0
    assert row_counts(schema) == after
    codes = {d.code for d in load_districts(schema.catalog_dir / schema.city / "districts.csv")}
    used = query(schema, "dept_market", "SELECT array_agg(DISTINCT district_code) FROM public.enterprise")
    assert set(used) <= codes


def test_generator_commits_paced_changes_of_every_kind(schema: Settings) -> None:
    if min(row_counts(schema).values()) < 100:
        seed(schema, "market", 500, seed=1)
        seed(schema, "realestate", 500, seed=1)
    before = row_counts(schema)
    gen = ChangeGenerator(schema, ["market", "realestate"], rate=200, seed=7)
    reports: list[int] = []
    counts = gen.run(duration=2.0, progress=lambda c, _elapsed: reports.append(c.total))
    after = row_counts(schema)

    # Pacing: ≈400 committed changes in ≈2 s, with slack for a machine busy with the stack.
    assert 1.95 <= counts.elapsed <= 2.5
    assert 360 <= counts.total <= 420, counts.to_dict()
    assert abs(counts.rate - 200) <= 20
    for op in OPS:
        assert counts.count(op) > 0, (op, counts.to_dict())
    assert reports and reports[0] > 0  # one progress report after the first second
    for dept in DEPARTMENTS:
        for table in dept.tables:
            delta = after[table] - before[table]
            assert delta == counts.count("insert", table) - counts.count("delete", table), table
    codes = {d.code for d in load_districts(schema.catalog_dir / schema.city / "districts.csv")}
    for dept_id, table in (("market", "public.enterprise"), ("realestate", "public.certificate")):
        used = query(
            schema, get_department(dept_id).database, f"SELECT array_agg(DISTINCT district_code) FROM {table}"
        )
        assert set(used) <= codes


def test_generator_stops_on_request_and_on_max_changes(schema: Settings) -> None:
    gen = ChangeGenerator(schema, ["realestate"], rate=500, seed=3)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(gen.run().total))
    worker.start()
    time.sleep(0.6)
    gen.stop()
    worker.join(timeout=5)
    assert not worker.is_alive() and result and result[0] > 100

    counts = ChangeGenerator(schema, ["market"], rate=2000, seed=4).run(max_changes=150)
    assert counts.total == 150
