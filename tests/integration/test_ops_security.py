"""Security monitoring through the real stack: a scripted misbehaving client — a district's new
consumer group reading its whole topic from the first offset — raises an unusual-reading alert in
the worker's ops status, in Prometheus and in the audit trail; the district's usual reading does
not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from sharebus.core.audit import SECURITY_ALERT, read_audit
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until
from tests.browser.ops_scenario import DistrictConsumer, wait_for_end, worker_get
from tests.browser.ops_worker import OpsWorkerProcess
from tests.integration.router_harness import write_catalog
from tests.integration.test_ops_lag import ops_worker_factory, wait_report  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

DISTRICT = "500101"
RECORDS = 60


def test_a_district_reading_its_whole_topic_again_raises_an_alert(
    stack_settings: Settings,
    ops_worker_factory: Callable[..., OpsWorkerProcess],  # noqa: F811
    unique: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Thresholds for a test's volumes: over 5 records a sample and 3 times the usual.
    monkeypatch.setenv("SHAREBUS_SECURITY_READ_RECORDS", "5")
    monkeypatch.setenv("SHAREBUS_SECURITY_READ_FACTOR", "3")
    department = unique("sec").replace("-", "_")
    worker = ops_worker_factory(
        write_catalog(tmp_path / "catalog", {"market": department}),
        **{"interval": "1"},
    )
    topic = f"share.{DISTRICT}.{department}"
    wait_report(worker, lambda r: r["sampler"]["samples"] >= 2)
    producer = Producer(kafka_config(stack_settings))
    for i in range(RECORDS):
        producer.produce(topic, f"record {i}".encode(), f"k{i}".encode())
    assert producer.flush(30) == 0
    wait_for_end(stack_settings, topic, RECORDS)
    since = datetime.now(UTC)

    def alerts(report: dict[str, Any]) -> list[dict[str, Any]]:
        return [a for a in report["security"]["alerts"] if a["subscriber"] == DISTRICT]

    # The district's usual consumer reads along: a few records a sample, its usual; then a new
    # group reads the whole topic from the first offset.
    usual = DistrictConsumer(stack_settings, unique(f"{DISTRICT}.sync"), topic, pace=0.5)
    usual.start()
    try:
        wait_until(lambda: usual.consumed >= 4, 30, "the usual consumer reading")
        assert alerts(worker_get(worker.env, "/api/ops/status").json()) == []
        scraper = DistrictConsumer(stack_settings, unique(f"{DISTRICT}.scrape"), topic)
        scraper.start()
        try:
            report = wait_report(worker, lambda r: bool(alerts(r)), timeout=60)
        finally:
            scraper.stop()
    finally:
        usual.stop()
    (alert,) = alerts(report)
    assert alert["kind"] == "unusual_reading" and alert["records"] > alert["threshold"] >= 5
    assert report["security"]["counts"] == {"unusual_reading": 1}
    metrics = worker_get(worker.env, "/metrics").text
    assert 'sharebus_security_alerts_total{kind="unusual_reading"} 1.0' in metrics

    def audited() -> list[dict[str, Any]]:
        return [
            r
            for r in read_audit(stack_settings, since=since)
            if r.get("action") == SECURITY_ALERT and r.get("subject") == DISTRICT
        ]

    (record,) = wait_until(audited, 30, "the alert audited")
    assert record["detail"]["kind"] == "unusual_reading" and record["detail"]["records"] == alert["records"]
    assert "security alert: unusual_reading of subscriber 500101" in worker.log()
