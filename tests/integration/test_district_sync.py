"""`district sync` and `reconcile` through the real stack: source database → Debezium → router →
subscriber topics → district database, compared with the policy projection of the source.

The helpers at the top are shared by the other district tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from connectors.dburl import parse_db_url
from connectors.render import CaptureSpec
from schemas.registry_client import RegistryClient
from sharebus.apps.district.decode import ValueDecoder
from sharebus.apps.district.errors import SyncBusyError
from sharebus.apps.district.reconcile import ReconcileReport, reconcile
from sharebus.apps.district.store import DistrictStore
from sharebus.apps.district.sync import DistrictSync, SyncOptions, SyncReport
from sharebus.cli.district import district
from sharebus.cli.reconcile import reconcile as reconcile_cmd
from sharebus.core.settings import Settings, get_settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.kafka import wait_for_records
from sharebus.testing.waiting import wait_until
from streams.router.live_catalog import publish_catalog
from tests.integration.router_harness import RouterProcess

pytestmark = pytest.mark.integration

A, B, C = "500101", "500102", "500103"


# --- shared helpers ------------------------------------------------------------------------------
def insert(conn: psycopg.Connection[Any], table: str, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    cols = list(rows[0])
    stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier("public", table),
        sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols)),
    )
    with conn.cursor() as cur:
        cur.executemany(stmt, [[r[c] for c in cols] for r in rows])


def certificates(settings: Settings, codes: Iterable[str]) -> list[dict[str, Any]]:
    """Sample certificates, one per code given, in that district (a fresh seed each call)."""
    factory = RowFactory.for_settings(settings, seed=time.time_ns() % 1_000_000)
    return [{**factory.certificate(i + 1), "district_code": code} for i, code in enumerate(codes)]


def sync_once(
    settings: Settings, subscriber: str, target_url: str, resources: Iterable[str] = ()
) -> SyncReport:
    """`district sync --until-caught-up [--resource …]`, in-process."""
    store = DistrictStore(parse_db_url(target_url), f"share_{subscriber.replace('-', '_')}")
    try:
        decoder = ValueDecoder(RegistryClient.for_settings(settings))
        options = SyncOptions(until_caught_up=True, batch_window=0.05, resources=frozenset(resources))
        return DistrictSync(settings, subscriber, store, decoder, options, lambda _line: None).run()
    finally:
        store.close()


def reconcile_now(settings: Settings, subscriber: str, target_url: str, **kw: Any) -> ReconcileReport:
    schema = f"share_{subscriber.replace('-', '_')}"
    return reconcile(settings, subscriber, parse_db_url(target_url), schema, lambda _line: None, **kw)


def settle(
    settings: Settings,
    subscribers: Iterable[str],
    target_url: str,
    *,
    resources: Sequence[str],
    sync: bool = True,
    timeout: float = 60.0,
) -> dict[str, ReconcileReport]:
    """Sync (unless syncs run elsewhere) and reconcile until no subscriber differs; the reports.
    Prints how long it took (the "seconds after quiescence" of the issue)."""
    started = time.monotonic()
    pending = list(subscribers)
    reports: dict[str, ReconcileReport] = {}

    def settled() -> bool:
        for sub in list(pending):
            if sync:
                sync_once(settings, sub, target_url, resources)
            reports[sub] = reconcile_now(settings, sub, target_url, resources=list(resources))
            if reports[sub].differences == 0:
                pending.remove(sub)
        return not pending

    wait_until(
        settled,
        timeout,
        f"{', '.join(subscribers)} to reconcile to zero differences",
        interval=0.5,
        last=lambda: json.dumps({s: reports[s].to_dict() for s in pending}, indent=1),
    )
    print(f"settled {sorted(reports)} in {time.monotonic() - started:.1f}s")
    return reports


def wait_policy(router: RouterProcess, version: str, timeout: float = 30.0) -> None:
    """Until the worker logs the catalog version in force."""
    wait_until(lambda: f"policy {version} in force" in router.log(), timeout, f"policy {version} in force")


def add_field(catalog_dir: Path, resource: str, line: str) -> None:
    """Append a field (a YAML flow mapping) to a resource of the catalog copy."""
    path = catalog_dir / "chongqing" / "catalog.yaml"
    lines = path.read_text().splitlines(keepends=True)
    i = lines.index(f"  - id: {resource}\n")
    last = i
    for j in range(i + 1, len(lines)):
        if lines[j].startswith("  - id: "):
            break
        if lines[j].startswith("      - {name:"):
            last = j
    lines.insert(last + 1, f"      - {line}\n")
    path.write_text("".join(lines))


def run_cli(command: Any, router: RouterProcess, args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A district CLI command in-process with the worker's settings."""
    with monkeypatch.context() as patch:
        for key, value in router.env.items():
            if key.startswith("SHAREBUS_"):
                patch.setenv(key, value)
        get_settings.cache_clear()
        try:
            result = CliRunner(mix_stderr=False).invoke(command, args, catch_exceptions=False)
        finally:
            get_settings.cache_clear()
    print(f"$ {command.name} {' '.join(args)} -> {result.exit_code}\n{result.stderr}{result.stdout}")
    return result


def enterprises(factory: RowFactory, districts: list[str]) -> list[dict[str, Any]]:
    rows = []
    for code in districts:
        row = factory.enterprise()
        row["district_code"] = code
        rows.append(row)
    return rows


def district_rows(admin_dsn: str, subscriber: str, table: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(admin_dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(f"share_{subscriber}", table)))
        return {str(next(iter(r.values()))): r for r in cur.fetchall()}


# --- tests ---------------------------------------------------------------------------------------
@pytest.fixture
def factory(stack_settings: Settings) -> RowFactory:
    return RowFactory.for_settings(stack_settings, seed=time.time_ns() % 1_000_000)


@pytest.fixture
def market(
    source_db_factory: Callable[..., CaptureSpec], factory: RowFactory
) -> tuple[CaptureSpec, list[dict[str, Any]]]:
    rows = enterprises(factory, [A] * 12 + [B] * 8 + [C] * 5)
    return source_db_factory("market", lambda conn: insert(conn, "enterprise", rows)), rows


def test_sync_keeps_an_exact_copy_through_inserts_updates_deletes_and_moves(
    stack_settings: Settings,
    market: tuple[CaptureSpec, list[dict[str, Any]]],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    district_db: dict[str, str],
    factory: RowFactory,
) -> None:
    spec, rows = market
    router = router_factory(catalog_factory(market=spec))
    settings, url, table = router.settings, district_db["url"], f"{spec.department}_enterprise"
    ours = [f"{spec.department}.enterprise"]
    settle(settings, [A, B], url, resources=ours)
    in_a = district_rows(district_db["admin_dsn"], A, table)
    assert set(in_a) == {r["uscc"] for r in rows if r["district_code"] == A}
    sample = next(iter(in_a.values()))
    assert "*" in sample["legal_rep_id"] and sample["sharebus_demand_id"] == f"CQ-2025-0001/{A}"
    assert sample["sharebus_policy_version"] and sample["sharebus_offset"] is not None

    a_rows = [r for r in rows if r["district_code"] == A]
    c_row = next(r for r in rows if r["district_code"] == C)
    new = enterprises(factory, [A])[0]
    with psycopg.connect(stack_settings.pg_dsn(spec.db_name), autocommit=True) as conn:
        conn.execute(
            "UPDATE enterprise SET status = 'suspended', name = '更名' WHERE uscc = %s", (a_rows[0]["uscc"],)
        )
        conn.execute("DELETE FROM enterprise WHERE uscc = %s", (a_rows[1]["uscc"],))
        conn.execute("UPDATE enterprise SET district_code = %s WHERE uscc = %s", (B, a_rows[2]["uscc"]))
        conn.execute("UPDATE enterprise SET district_code = %s WHERE uscc = %s", (A, c_row["uscc"]))
        insert(conn, "enterprise", [new])
    settle(settings, [A, B, C], url, resources=ours)
    in_a = district_rows(district_db["admin_dsn"], A, table)
    in_b = district_rows(district_db["admin_dsn"], B, table)
    assert in_a[a_rows[0]["uscc"]]["status"] == "suspended" and in_a[a_rows[0]["uscc"]]["name"] == "更名"
    assert a_rows[1]["uscc"] not in in_a and a_rows[2]["uscc"] not in in_a
    assert a_rows[2]["uscc"] in in_b and c_row["uscc"] in in_a and new["uscc"] in in_a

    again = sync_once(settings, A, url, ours)  # nothing new: nothing applied twice
    assert again.records == 0 and again.caught_up
    with psycopg.connect(district_db["admin_dsn"]) as conn:
        offsets = conn.execute("SELECT topic, next_offset FROM share_500101.sharebus_sync_offsets").fetchall()
    assert [t for t, _ in offsets] == [f"share.{A}.{spec.department}"]


def test_a_field_added_to_the_source_and_the_catalog_becomes_a_column(
    stack_settings: Settings,
    market: tuple[CaptureSpec, list[dict[str, Any]]],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    district_db: dict[str, str],
) -> None:
    spec, rows = market
    catalog = catalog_factory(market=spec)
    router = router_factory(catalog)
    settings, url, table = router.settings, district_db["url"], f"{spec.department}_enterprise"
    settle(settings, [A], url, resources=[f"{spec.department}.enterprise"])
    add_field(catalog, f"{spec.department}.enterprise", "{name: employees, type: integer, grade: public}")
    wait_policy(router, publish_catalog(settings).version)
    first = next(r["uscc"] for r in rows if r["district_code"] == A)
    with psycopg.connect(stack_settings.pg_dsn(spec.db_name), autocommit=True) as conn:
        conn.execute("ALTER TABLE enterprise ADD COLUMN employees bigint")
        conn.execute("UPDATE enterprise SET employees = 42 WHERE uscc = %s", (first,))
    settle(settings, [A], url, resources=[f"{spec.department}.enterprise"])
    with psycopg.connect(district_db["admin_dsn"]) as conn:
        kind = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'share_500101'"
            " AND table_name = %s AND column_name = 'employees'",
            (table,),
        ).fetchone()
    assert kind == ("bigint",)
    assert district_rows(district_db["admin_dsn"], A, table)[first]["employees"] == 42


def test_reconcile_reports_missing_extra_and_differing_rows_and_exits_non_zero(
    market: tuple[CaptureSpec, list[dict[str, Any]]],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    district_db: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, rows = market
    router = router_factory(catalog_factory(market=spec))
    url = district_db["url"]
    synced = run_cli(
        district,
        router,
        [
            "sync",
            A,
            "--target",
            url,
            "--until-caught-up",
            "--json",
            "--resource",
            f"{spec.department}.enterprise",
        ],
        monkeypatch,
    )
    assert synced.exit_code == 0 and json.loads(synced.stdout)["caught_up"]
    settle(router.settings, [A], url, resources=[f"{spec.department}.enterprise"])
    table = sql.Identifier("share_500101", f"{spec.department}_enterprise")
    ours = [r["uscc"] for r in rows if r["district_code"] == A]
    with psycopg.connect(district_db["admin_dsn"], autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM {} WHERE uscc = %s").format(table), (ours[0],))
        conn.execute(sql.SQL("UPDATE {} SET name = 'tampered' WHERE uscc = %s").format(table), (ours[1],))
        copy = sql.SQL(
            "INSERT INTO {} SELECT 'EXTRA' || substr(uscc, 6), name, legal_rep_name, legal_rep_id, phone,"
            " address, district_code, reg_capital, status, established_on, created_at, updated_at"
            " FROM {} WHERE uscc = %s"
        )
        conn.execute(copy.format(table, table), (ours[2],))
    resource = f"{spec.department}.enterprise"
    result = run_cli(reconcile_cmd, router, [A, resource, "--target", url, "--json"], monkeypatch)
    assert result.exit_code == 1
    report = json.loads(result.stdout)["resources"][0]
    assert (report["missing"], report["extra"], report["differing"]) == (1, 1, 1)
    differing = next(s for s in report["samples"] if s["kind"] == "differing")
    assert differing["key"] == {"uscc": ours[1]} and differing["fields"] == ["name"]
    plain = run_cli(reconcile_cmd, router, [A, resource, "--target", url], monkeypatch)
    assert plain.exit_code == 1 and "3 differences" in plain.stdout


def test_a_second_sync_into_the_same_schema_is_refused(district_db: dict[str, str]) -> None:
    first = DistrictStore(parse_db_url(district_db["url"]), "share_500101")
    try:
        with pytest.raises(SyncBusyError, match="another `sharebus district sync`"):
            DistrictStore(parse_db_url(district_db["url"]), "share_500101")
    finally:
        first.close()


def test_a_crash_between_the_rows_and_their_offsets_leaves_nothing_then_applies_everything_once(
    market: tuple[CaptureSpec, list[dict[str, Any]]],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    district_db: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sharebus.apps.district.store as store_module
    from tests.integration.router_harness import keys_of, read_share

    spec, rows = market
    router = router_factory(catalog_factory(market=spec))
    settings, url, resource = router.settings, district_db["url"], f"{spec.department}.enterprise"
    ours = {r["uscc"] for r in rows if r["district_code"] == A}
    read_share(settings, A, resource, until=lambda rs: keys_of(rs, "uscc") >= ours, timeout=60)

    def crash(*_args: object, **_kw: object) -> None:
        raise RuntimeError("the process died after writing the rows, before the offsets")

    with monkeypatch.context() as patch:
        patch.setattr(store_module, "save_offsets", crash)
        with pytest.raises(RuntimeError, match="before the offsets"):
            sync_once(settings, A, url, [resource])
    with psycopg.connect(district_db["admin_dsn"]) as conn:
        table = conn.execute(
            "SELECT to_regclass(%s)", (f"share_500101.{spec.department}_enterprise",)
        ).fetchone()
        offsets = conn.execute("SELECT count(*) FROM share_500101.sharebus_sync_offsets").fetchone()
    assert table == (None,) and offsets == (0,)  # rows, table and offsets: all or nothing
    report = sync_once(settings, A, url, [resource])
    assert report.upserts == len(ours) and report.caught_up
    settle(settings, [A], url, resources=[resource])


def test_sync_and_reconcile_throughput(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    district_db: dict[str, str],
    factory: RowFactory,
) -> None:
    """Measured, printed, and held to a floor far below what this machine does."""

    n = 10_000
    rows = enterprises(factory, [A] * n)
    spec = source_db_factory("market", lambda conn: insert(conn, "enterprise", rows))
    router = router_factory(catalog_factory(market=spec))
    settings, url, resource = router.settings, district_db["url"], f"{spec.department}.enterprise"
    topic = f"share.{A}.{spec.department}"  # the department's only shared resource here
    wait_for_records(settings, topic, n, 120)
    report = sync_once(settings, A, url, [resource])
    assert report.upserts == n
    t0 = time.monotonic()
    checked = reconcile_now(settings, A, url, resources=[resource])
    took = time.monotonic() - t0
    assert checked.differences == 0 and checked.resources[0].district == n
    print(
        f"sync: {n} records in {report.seconds:.2f}s = {report.rate:,.0f} records/s"
        f" ({report.batches} transactions); reconcile of {n} rows: {took:.2f}s"
    )
    assert report.rate > 1000 and took < 30
