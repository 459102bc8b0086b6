"""A healthy worker's log has no ERROR line: it outlives the broker's re-authentication interval
(connections.max.reauth.ms = 60 s on the local stack), which dropped Faust's aiokafka consumer
every minute with ERROR bursts when the worker held one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from connectors.render import CaptureSpec
from sharebus.core.settings import Settings
from sharebus.dev.samples.departments import districts_csv, load_districts
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.waiting import wait_until
from tests.integration.router_harness import RouterProcess
from tests.integration.test_district_sync import insert

pytestmark = pytest.mark.integration

HEALTHY_FOR = 75.0  # seconds: longer than one re-authentication interval
BAD = re.compile(r"\[(ERROR|CRITICAL)\]|Traceback")


def test_a_healthy_worker_logs_no_error_across_a_reauthentication(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
) -> None:
    districts = [d for d in load_districts(districts_csv(stack_settings)) if d.code in ("500101", "500103")]
    factory = RowFactory(districts, city=stack_settings.city, seed=7)
    market = source_db_factory("market")
    router = router_factory(catalog_factory(market=market))
    started = time.monotonic()
    with psycopg.connect(stack_settings.pg_dsn(market.db_name), autocommit=True) as conn:
        while time.monotonic() - started < HEALTHY_FOR:
            insert(conn, "enterprise", [factory.enterprise()])
            time.sleep(0.2)
    wait_until(lambda: "routed " in router.log(), 30, "the worker to log its routing")
    assert router.alive()
    bad = [line for line in router.log().splitlines() if BAD.search(line)]
    assert not bad, "ERROR lines in a healthy worker's log:\n" + "\n".join(bad[:20])
