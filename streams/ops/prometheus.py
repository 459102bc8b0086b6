"""Prometheus exposition of the ops figures (`GET /metrics`): lag and status per subscriber and
consumer group, topic end offsets, router counters, delivery latency, dead letters, connectors.

Built at scrape time from the same report `ops status --json` prints (so both show the same lag)
and from the router meter's running totals; nothing is counted per record for Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from streams.ops.monitor import OpsMonitor
from streams.ops.status import Status

CONTENT_TYPE = CONTENT_TYPE_LATEST


class OpsCollector(Collector):
    """Collects from an OpsMonitor at each scrape."""

    def __init__(self, monitor: OpsMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        report = self.monitor.report()
        yield from _lag(report)
        yield from _topics(report)
        yield from _router(self.monitor)
        yield from _connectors(report)
        yield from _sampler(report, self.monitor)
        yield from _security(report)


def _gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, *labels: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


def exposition(monitor: OpsMonitor) -> bytes:
    """The text exposition format of everything the monitor knows."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpsCollector(monitor))
    return generate_latest(registry)


def _lag(report: dict[str, Any]) -> Iterator[Metric]:
    lag = _gauge(
        "sharebus_subscriber_lag_records",
        "Records the subscriber's slowest consumer group of each topic has not consumed, summed",
        "subscriber",
        "name",
        "kind",
    )
    seconds = _gauge(
        "sharebus_subscriber_lag_seconds",
        "Age of the oldest record a consumer group of the subscriber has not consumed",
        "subscriber",
    )
    unconsumed = _gauge(
        "sharebus_subscriber_unconsumed_records",
        "Records in the subscriber's topics that no consumer group of it reads",
        "subscriber",
    )
    status = _gauge(
        "sharebus_subscriber_status",
        "Burrow-style status of the subscriber (1 for the current one)",
        "subscriber",
        "status",
    )
    group_lag = _gauge(
        "sharebus_consumergroup_lag_records",
        "Records a subscriber's consumer group has not consumed, per topic",
        "subscriber",
        "group",
        "topic",
        "department",
    )
    group_seconds = _gauge(
        "sharebus_consumergroup_lag_seconds",
        "Age of the oldest record the consumer group has not consumed, per topic",
        "subscriber",
        "group",
        "topic",
        "department",
    )
    group_status = _gauge(
        "sharebus_consumergroup_status",
        "Burrow-style status of the consumer group (1 for the current one)",
        "subscriber",
        "group",
        "status",
    )
    members = _gauge(
        "sharebus_consumergroup_members",
        "Live members of the consumer group",
        "subscriber",
        "group",
    )
    for sub in report["subscribers"]:
        sid = sub["subscriber"]
        lag.add_metric([sid, sub["name"], sub["kind"]], sub["lag_records"])
        if sub["lag_seconds"] is not None:
            seconds.add_metric([sid], sub["lag_seconds"])
        unconsumed.add_metric([sid], sub["unconsumed_records"])
        for state in Status:
            status.add_metric([sid, state.value], 1.0 if sub["status"] == state.value else 0.0)
        for group in sub["groups"]:
            gid = group["group"]
            members.add_metric([sid, gid], group["members"])
            for state in Status:
                current = 1.0 if group["status"] == state.value else 0.0
                group_status.add_metric([sid, gid, state.value], current)
            for topic in group["topics"]:
                labels = [sid, gid, topic["topic"], topic["department"]]
                group_lag.add_metric(labels, topic["lag_records"])
                if topic["lag_seconds"] is not None:
                    group_seconds.add_metric(labels, topic["lag_seconds"])
    yield from (lag, seconds, unconsumed, status, group_lag, group_seconds, group_status, members)


def _topics(report: dict[str, Any]) -> Iterator[Metric]:
    ends = _counter(
        "sharebus_topic_records",
        "End offset of the topic (records ever written), summed over partitions",
        "topic",
        "kind",
        "department",
        "resource",
        "subscriber",
    )
    fresh = _gauge(
        "sharebus_raw_topic_last_record_timestamp_seconds",
        "Timestamp of the newest record of the raw (capture) topic",
        "topic",
        "department",
    )
    depth = _gauge(
        "sharebus_dead_letter_records",
        "Records held in the department's dead-letter topic",
        "department",
        "topic",
    )
    for raw in report["raw_topics"]:
        ends.add_metric([raw["topic"], "raw", raw["department"], ",".join(raw["resources"]), ""], raw["end"])
        if raw["last_record_at"] is not None:
            stamp = datetime.fromisoformat(raw["last_record_at"].replace("Z", "+00:00")).timestamp()
            fresh.add_metric([raw["topic"], raw["department"]], stamp)
    for sub in report["subscribers"]:
        for topic in sub["topics"]:
            ends.add_metric(
                [topic["topic"], "subscriber", topic["department"], "", sub["subscriber"]],
                topic["end"],
            )
    for dlq in report["dead_letters"]:
        ends.add_metric([dlq["topic"], "dead_letter", dlq["department"], "", ""], dlq["end"])
        depth.add_metric([dlq["department"], dlq["topic"]], dlq["depth"])
    yield from (ends, fresh, depth)


def _router(monitor: OpsMonitor) -> Iterator[Metric]:
    if monitor.meter is None:
        return
    raw, calls, latency = monitor.meter.totals()
    read = _counter(
        "sharebus_router_read_records",
        "Raw records the router read",
        "topic",
        "department",
    )
    read_bytes = _counter(
        "sharebus_router_read_bytes",
        "Bytes (key + value) of raw records the router read",
        "topic",
        "department",
    )
    topology = monitor.current_topology
    for topic, (n, b) in sorted(raw.items()):
        dept = topology.department_of_raw(topic) if topology else ""
        read.add_metric([topic, dept], n)
        read_bytes.add_metric([topic, dept], b)
    records = _counter(
        "sharebus_router_records",
        "Records the router delivered, withheld or dead-lettered (calls when delivered)",
        "department",
        "resource",
        "subscriber",
        "outcome",
    )
    nbytes = _counter(
        "sharebus_router_bytes",
        "Bytes the router delivered or dead-lettered",
        "department",
        "resource",
        "subscriber",
        "outcome",
    )
    for (dept, resource, subscriber, outcome), (n, b) in sorted(calls.items()):
        records.add_metric([dept, resource, subscriber, outcome], n)
        nbytes.add_metric([dept, resource, subscriber, outcome], b)
    hist = HistogramMetricFamily(
        "sharebus_delivery_latency_seconds", "Source commit to delivered latency of delivered records"
    )
    hist.add_metric([], latency.cumulative_buckets(), latency.total_ms / 1000.0)
    yield from (read, read_bytes, records, nbytes, hist)


def _connectors(report: dict[str, Any]) -> Iterator[Metric]:
    sample = report.get("connectors")
    if not sample:
        return
    state = _gauge(
        "sharebus_connector_state",
        "Kafka Connect state of the connector (1 for the current one)",
        "connector",
        "department",
        "state",
    )
    tasks = _gauge(
        "sharebus_connector_tasks",
        "Tasks of the connector by state",
        "connector",
        "state",
    )
    retained = _gauge(
        "sharebus_replication_slot_retained_bytes",
        "Log (WAL, binlog) the database retains for the connector",
        "connector",
        "slot",
    )
    behind = _gauge(
        "sharebus_replication_slot_lag_bytes",
        "Log the connector has not yet acknowledged",
        "connector",
        "slot",
    )
    active = _gauge(
        "sharebus_replication_slot_active",
        "1 while a connector streams from the slot",
        "connector",
        "slot",
    )
    for item in sample["items"]:
        name = item["name"]
        state.add_metric([name, item.get("department") or "", item["state"]], 1.0)
        counts: dict[str, int] = {}
        for task in item["tasks"]:
            counts[task["state"]] = counts.get(task["state"], 0) + 1
        for task_state, n in sorted(counts.items()):
            tasks.add_metric([name, task_state], n)
        ret = item.get("retention")
        if ret:
            if ret.get("retained_bytes") is not None:
                retained.add_metric([name, ret["name"]], ret["retained_bytes"])
            if ret.get("lag_bytes") is not None:
                behind.add_metric([name, ret["name"]], ret["lag_bytes"])
            if ret.get("active") is not None:
                active.add_metric([name, ret["name"]], 1.0 if ret["active"] else 0.0)
    yield from (state, tasks, retained, behind, active)


def _sampler(report: dict[str, Any], monitor: OpsMonitor) -> Iterator[Metric]:
    info = report["sampler"]
    samples = _counter(
        "sharebus_ops_samples",
        "Ops samples of the bus taken by this worker",
    )
    samples.add_metric([], info["samples"])
    failing = _gauge(
        "sharebus_ops_sample_failing",
        "1 while the last ops sample failed",
    )
    failing.add_metric([], 1.0 if info["error"] else 0.0)
    cpu = _counter(
        "sharebus_ops_sample_cpu_seconds",
        "CPU the ops sampler's thread spent sampling",
    )
    cpu.add_metric([], monitor.cpu_seconds)
    yield from (samples, failing, cpu)


def _security(report: dict[str, Any]) -> Iterator[Metric]:
    alerts = _counter(
        "sharebus_security_alerts",
        "Security alerts the worker raised (subscribers' reading, new addresses, broker denials), by kind",
        "kind",
    )
    for kind, count in (report.get("security") or {}).get("counts", {}).items():
        alerts.add_metric([kind], count)
    yield alerts
