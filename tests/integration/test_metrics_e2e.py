"""Calls measured end to end: changes routed through the real stack show up in
`sharebus metrics calls --json` with exact delivered / withheld / dead-lettered counts within 5 s."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from psycopg import sql

from connectors.render import CaptureSpec
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.waiting import wait_until
from tests.integration.router_harness import RouterProcess, cli_json, keys_of, read_share, write_catalog

pytestmark = pytest.mark.integration


def insert(settings: Settings, database: str, table: str, row: dict[str, Any]) -> None:
    with psycopg.connect(settings.pg_dsn(database), autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier("public", table),
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            list(row.values()),
        )


def metrics_json(router: RouterProcess, *args: str) -> dict[str, Any]:
    return cli_json(router, "metrics", *args)


def test_metrics_report_exact_counts_per_subscriber_and_reason(
    stack_settings: Settings,
    capture_factory: Callable[..., CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    tmp_path: Path,
) -> None:
    market = capture_factory("market", own_database=True)  # no other writer: counts are exact
    realestate = capture_factory("realestate", own_database=True)
    catalog = write_catalog(
        tmp_path / "catalog", {"market": market.department, "realestate": realestate.department}
    )
    router = router_factory(catalog)
    factory = RowFactory.for_settings(stack_settings, seed=11)
    rows = []
    for code in ("500101", "500101", "500101", "500102", "500102"):
        row = factory.enterprise()
        row["district_code"] = code
        insert(stack_settings, market.db_name, "enterprise", row)
        rows.append(row)
    for i in range(2):  # not shared: withheld from everyone
        insert(
            stack_settings,
            market.db_name,
            "inspection",
            {**factory.inspection(rows[0]["uscc"], "500101"), "id": 10 + i},
        )
    producer = Producer(kafka_config(stack_settings))
    producer.produce(market.raw_topic, b"{garbage", b'{"uscc":"X"}')
    assert producer.flush(10) == 0

    # Everything routed: the last enterprise is in its district's topic.
    resource = f"{market.department}.enterprise"
    read_share(stack_settings, "500102", resource, until=lambda rs: keys_of(rs, "uscc") >= {rows[-1]["uscc"]})

    def complete() -> dict[str, Any] | None:
        report: dict[str, Any] = metrics_json(router, "calls", "--by", "subscriber", "--since", "1h")
        done = report["totals"]["delivered"] >= 10 and report["totals"]["dead_letter"] >= 1
        return report if done else None

    # A delivery shows up in the figures within 5 s.
    report = wait_until(complete, 5.0, "every delivery and dead letter in the figures", interval=0.5)
    by_sub = {r["subscriber"]: r for r in report["rows"]}
    # Each enterprise reaches its district and the city-wide civil-affairs department.
    assert by_sub["500101"]["delivered"] == 3 and by_sub["500102"]["delivered"] == 2
    assert by_sub["500101"]["reasons"]["delivered"] == {"shared_unconditional": 3}
    assert by_sub["civil-affairs"]["delivered"] == 5
    assert by_sub["civil-affairs"]["reasons"]["delivered"] == {"shared_unconditional": 5}
    assert report["totals"]["delivered"] == 10
    # Withheld and dead letters are counted apart from any subscriber, by reason.
    assert by_sub[""]["reasons"]["withheld"] == {"not_shared": 2}
    assert by_sub[""]["reasons"]["dead_letter"] == {"decode": 1}
    reasons = metrics_json(router, "reasons", "--by", "all", "--since", "1h")
    assert reasons["by_reason"]["withheld"] == {"not_shared": 2}
    assert reasons["by_reason"]["dead_letter"] == {"decode": 1}
