"""Security monitoring through the real stack, with scripted misbehaving clients: a district's new
consumer group reading its whole topic from the first offset raises an unusual-reading alert (the
district's usual reading does not), and a login denied topic after topic by the broker raises an
authorisation-denials alert — in the worker's ops status, in Prometheus and in the audit trail."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from sharebus.apps.acl.broker import Broker
from sharebus.core.audit import SECURITY_ALERT, read_audit
from sharebus.core.kafka_clients import kafka_config, scram_config
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until
from tests.browser.ops_scenario import DistrictConsumer, wait_for_end, worker_get
from tests.browser.ops_worker import OpsWorkerProcess
from tests.integration.router_harness import write_catalog
from tests.integration.test_ops_lag import ops_worker_factory, wait_report  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

DISTRICT = "500101"
RECORDS = 60


def alerts_audited(settings: Settings, since: datetime, subject: str) -> list[dict[str, Any]]:
    """The security.alert audit records about `subject` since `since`."""
    return [
        r
        for r in read_audit(settings, since=since)
        if r.get("action") == SECURITY_ALERT and r.get("subject") == subject
    ]


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

    (record,) = wait_until(lambda: alerts_audited(stack_settings, since, DISTRICT), 30, "the alert audited")
    assert record["detail"]["kind"] == "unusual_reading" and record["detail"]["records"] == alert["records"]
    assert "security alert: unusual_reading of subscriber 500101" in worker.log()


def test_a_login_denied_topic_after_topic_raises_an_alert(
    stack_settings: Settings,
    ops_worker_factory: Callable[..., OpsWorkerProcess],  # noqa: F811
    unique: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A valid login without grants (a stolen district password, say) asks for topics that are
    not its own: the broker denies each (its authorizer log), the worker alerts."""
    monkeypatch.setenv("SHAREBUS_SECURITY_DENIALS", "3")
    logs = stack_settings.runtime_dir.resolve() / "logs" / "kafka*.log"
    monkeypatch.setenv("SHAREBUS_KAFKA_AUTHORIZER_LOG", str(logs))
    department = unique("den").replace("-", "_")
    worker = ops_worker_factory(write_catalog(tmp_path / "catalog", {"market": department}))
    wait_report(worker, lambda r: r["sampler"]["samples"] >= 2)
    prober, password = unique("prober"), secrets.token_hex(16)
    broker = Broker(stack_settings)
    broker.set_password(prober, password)
    since = datetime.now(UTC)
    try:
        client = scram_config(stack_settings.kafka_bootstrap, prober, password, ca=stack_settings.tls_ca)
        for district in ("500102", "500103", "500104", "500105"):
            consumer = Consumer({**client, "group.id": f"{prober}.g", "enable.auto.commit": False})
            try:
                consumer.assign([TopicPartition(f"share.{district}.{department}", 0, 0)])
                consumer.poll(2.0)  # denied: TOPIC_AUTHORIZATION_FAILED
            finally:
                consumer.close()
        report = wait_report(
            worker,
            lambda r: any(a["subscriber"] == prober for a in r["security"]["alerts"]),
            timeout=60,
        )
    finally:
        broker.delete_user(prober)
    (alert,) = [a for a in report["security"]["alerts"] if a["subscriber"] == prober]
    assert alert["kind"] == "authorization_denials" and alert["count"] >= 3
    assert alert["resource"].startswith(("Topic:LITERAL:share.", "Group:LITERAL:"))

    (record,) = wait_until(lambda: alerts_audited(stack_settings, since, prober), 30, "the denials audited")
    assert record["detail"]["kind"] == "authorization_denials"
