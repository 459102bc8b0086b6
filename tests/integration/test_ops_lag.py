"""Ops on the real stack: real district consumer groups on a test's own router — one stopped (STOP,
with the lag Kafka reports), one falling behind (WARN), one keeping up (OK) — seen the same by the
worker's API, `sharebus ops status --json`, Prometheus `/metrics`, and by the CLI sampling on its
own once the worker is gone; plus throughput, latency, dead letters and connector state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from connectors.render import CaptureSpec
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until
from tests.browser.ops_scenario import (
    DistrictConsumer,
    Inserter,
    delete_groups,
    kafka_lag,
    ops_status_json,
    subscriber,
    wait_for_end,
    worker_get,
)
from tests.browser.ops_worker import OpsWorkerProcess
from tests.integration.router_harness import worker_env, write_catalog

pytestmark = pytest.mark.integration

STOPPED, BEHIND, KEEPING_UP = "500101", "500102", "500103"


@pytest.fixture
def ops_worker_factory(
    stack_settings: Settings, unique: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., OpsWorkerProcess]]:
    """Workers like `router_factory`'s, whose ops monitor samples every second (window 6)."""
    workers: list[OpsWorkerProcess] = []

    def make(catalog_dir: Path, **ops: str) -> OpsWorkerProcess:
        work = tmp_path_factory.mktemp("ops-worker")
        env = {
            **worker_env(stack_settings, catalog_dir, work, unique),
            **{f"SHAREBUS_TEST_OPS_{k.upper()}": v for k, v in ops.items()},
        }
        worker = OpsWorkerProcess(env, work / "worker.log")
        workers.append(worker)
        worker.start()
        return worker

    yield make
    for worker in workers:
        code = worker.stop()
        print(f"--- ops worker log (exit {code}) ---\n{worker.log()[-4000:]}")


def wait_report(
    worker: OpsWorkerProcess,
    ok: Callable[[dict[str, Any]], bool],
    timeout: float = 60.0,
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = [{}]

    def as_expected() -> dict[str, Any] | None:
        seen[0] = worker_get(worker.env, "/api/ops/status").json()
        return seen[0] if ok(seen[0]) else None

    def brief() -> object:
        report = seen[0]
        subscribers = {
            s["subscriber"]: (s["status"], s["lag_records"], s["reason"])
            for s in report.get("subscribers", [])
            if s["status"] != "NONE"
        }
        return (subscribers, report.get("sampler"))

    report: dict[str, Any] = wait_until(
        as_expected, timeout, "the ops report expected", interval=0.5, last=brief
    )
    return report


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {sid: subscriber(report, sid)["status"] for sid in (STOPPED, BEHIND, KEEPING_UP)}


def test_stopped_district_is_stop_lagging_is_warn_others_ok(
    stack_settings: Settings,
    capture_factory: Callable[..., CaptureSpec],
    ops_worker_factory: Callable[..., OpsWorkerProcess],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    market = capture_factory("market", own_database=True)
    worker = ops_worker_factory(write_catalog(tmp_path / "catalog", {"market": market.department}))
    topic = {d: f"share.{d}.{market.department}" for d in (STOPPED, BEHIND, KEEPING_UP)}
    group = {d: unique(f"{d}.ops") for d in topic}
    inserter = Inserter(stack_settings, market.db_name, {STOPPED: 2, BEHIND: 4, KEEPING_UP: 2})
    for district in topic:
        inserter.insert(district, 5)
    for name in topic.values():
        wait_for_end(stack_settings, name, 5)
    consumers = {
        STOPPED: DistrictConsumer(stack_settings, group[STOPPED], topic[STOPPED]),
        BEHIND: DistrictConsumer(stack_settings, group[BEHIND], topic[BEHIND], pace=1.0),
        KEEPING_UP: DistrictConsumer(stack_settings, group[KEEPING_UP], topic[KEEPING_UP]),
    }
    try:
        for consumer in consumers.values():
            consumer.start()
        wait_until(
            lambda: consumers[STOPPED].consumed >= 5, 30, "the district consumer to read its 5 records"
        )
        assert consumers[STOPPED].stop() == 5  # committed 5, left the group
        garbage = Producer(kafka_config(stack_settings))
        garbage.produce(market.raw_topic, b"{garbage", b'{"uscc":"X"}')
        assert garbage.flush(10) == 0
        inserter.start()

        # While changes flow: the worker judges all three, and the CLI (asking it) agrees.
        expected = {STOPPED: "STOP", BEHIND: "WARN", KEEPING_UP: "OK"}
        live = wait_report(worker, lambda r: statuses(r) == expected)
        assert "no commit for" in subscriber(live, STOPPED)["reason"]
        assert "lag grew from" in subscriber(live, BEHIND)["reason"]
        for attempt in range(3):
            cli = ops_status_json(worker.env)
            if statuses(cli) == expected or attempt == 2:
                break
        assert statuses(cli) == expected
        assert cli["sampler"]["source"] == "worker" and not cli["_stderr"]
        others = [s for s in cli["subscribers"] if s["subscriber"] not in expected]
        assert {s["status"] for s in others} == {"NONE"}  # nobody consumes their topics
        router = live["router"]["windows"]["1m"]
        assert router["in_records_per_s"] > 0 and router["delivered_per_s"] > 0
        latency = router["latency_ms"]
        assert latency["p50"] is not None and latency["p99"] >= latency["p50"]
        raw = next(t for t in live["raw_topics"] if t["topic"] == market.raw_topic)
        assert raw["records_per_s"]["1m"] > 0 and raw["router_bytes_per_s"]["1m"] > 0 and raw["age_s"] < 30
        assert subscriber(live, BEHIND)["records_per_s"]["1m"] > 0

        # Changes stop: the stopped district's lag is exactly what Kafka reports, everywhere.
        inserted = inserter.stop()
        wait_for_end(stack_settings, topic[STOPPED], inserted[STOPPED])
        end, committed = kafka_lag(stack_settings, group[STOPPED], topic[STOPPED])
        assert (end, committed) == (inserted[STOPPED], 5)
        lag = end - committed
        settled = wait_report(worker, lambda r: subscriber(r, STOPPED)["lag_records"] == lag, timeout=15)
        stopped = subscriber(settled, STOPPED)
        assert stopped["status"] == "STOP" and stopped["lag_seconds"] > 0
        (grp,) = stopped["groups"]
        assert (grp["group"], grp["state"], grp["members"]) == (group[STOPPED], "EMPTY", 0)
        assert grp["topics"][0]["committed"] == committed and grp["topics"][0]["end"] == end
        cli = ops_status_json(worker.env)
        assert subscriber(cli, STOPPED)["status"] == "STOP" and subscriber(cli, STOPPED)["lag_records"] == lag
        metrics = {f.name: f for f in text_string_to_metric_families(worker_get(worker.env, "/metrics").text)}
        lags = {s.labels["subscriber"]: s.value for s in metrics["sharebus_subscriber_lag_records"].samples}
        assert lags[STOPPED] == lag
        status = {
            (s.labels["subscriber"], s.labels["status"]): s.value
            for s in metrics["sharebus_subscriber_status"].samples
        }
        assert status[(STOPPED, "STOP")] == 1.0 and status[(KEEPING_UP, "OK")] == 1.0
        (dlq,) = [d for d in settled["dead_letters"] if d["department"] == market.department]
        assert dlq["depth"] == 1 and dlq["latest"][0]["check"] == "decode"
        connectors = {c["name"]: c for c in settled["connectors"]["items"]}
        mine = connectors[market.connector_name]
        assert mine["state"] == "RUNNING" and mine["retention"]["retained_bytes"] is not None

        # No worker: the CLI samples twice itself and says so; the stopped district stays STOP.
        worker.stop()
        alone = ops_status_json(worker.env)
        assert "no worker answers at" in alone["_stderr"] and alone["sampler"]["source"] == "cli"
        stopped = subscriber(alone, STOPPED)
        assert (stopped["status"], stopped["lag_records"]) == ("STOP", lag)
        assert subscriber(alone, KEEPING_UP)["status"] == "OK"
        assert alone["router"] is None
    finally:
        inserter.stop()
        for consumer in consumers.values():
            consumer.stop()
        delete_groups(stack_settings, list(group.values()))
