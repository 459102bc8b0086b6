"""Data flowing back up (数据回流): a district's own database, captured by its own connector, is
routed by the same machinery to the city department its demand names."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from connectors.render import CaptureSpec
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.dev.samples.upflow import COLUMNS, HouseholdRows
from tests.integration.router_harness import RouterProcess, keys_of, read_share
from tests.integration.test_district_sync import district_rows, insert, settle

pytestmark = pytest.mark.integration

DISTRICT, DEPARTMENT = "500103", "civil-affairs"


def test_a_district_database_flows_up_to_its_city_department(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    district_db: dict[str, str],
) -> None:
    households = HouseholdRows(RowFactory.for_settings(stack_settings, seed=time.time_ns() % 10**6), DISTRICT)
    rows = [households.row() for _ in range(15)]
    assert set(rows[0]) == set(COLUMNS)
    spec = source_db_factory("upflow", lambda conn: insert(conn, "assistance_household", rows))
    router = router_factory(catalog_factory(district_500103=spec))
    resource = f"{spec.department}.assistance_household"
    ids = {r["household_id"] for r in rows}
    reads = read_share(
        router.settings, DEPARTMENT, resource, until=lambda rs: keys_of(rs, "household_id") >= ids, timeout=60
    )
    by_id = {r.key["household_id"]: r.value for r in reads}
    first = rows[0]
    assert by_id[first["household_id"]]["head_id"] == first["head_id"]  # granted in clear
    assert "updated_at" not in by_id[first["household_id"]]  # not among the approved fields

    extra = households.row()
    with psycopg.connect(stack_settings.pg_dsn(spec.db_name), autocommit=True) as conn:
        insert(conn, "assistance_household", [extra])
        conn.execute(
            "UPDATE assistance_household SET members = 6 WHERE household_id = %s", (first["household_id"],)
        )
        conn.execute("DELETE FROM assistance_household WHERE household_id = %s", (rows[1]["household_id"],))
    settle(router.settings, [DEPARTMENT], district_db["url"], resources=[resource])
    held = district_rows(district_db["admin_dsn"], DEPARTMENT.replace("-", "_"), resource.replace(".", "_"))
    assert set(held) == ids - {rows[1]["household_id"]} | {extra["household_id"]}
    assert held[first["household_id"]]["members"] == 6
    # The district itself has no demand on its own reported data: nothing goes back down to it.
    topics = admin_client(kafka_config(stack_settings)).list_topics(timeout=10).topics
    assert f"share.{DISTRICT}.{spec.department}" not in topics
