"""`sharebus ops status [--watch] [--json]`: one screen of the bus, district first — lag and
Burrow-style status per subscriber, throughput, latency, dead letters, connectors."""

from __future__ import annotations

import time
from typing import Any

import click

from sharebus.catalog.load import city_dir, load_catalog
from sharebus.cli.metrics import size
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.errors import SharebusError, UnreachableError
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings, get_settings
from streams.metrics.api import fetch_report
from streams.ops.api import fetch_status
from streams.ops.connector_states import ConnectorSampler
from streams.ops.errors import OpsError
from streams.ops.monitor import OpsMonitor
from streams.ops.sampler import KafkaSampler
from streams.ops.topology import Topology, topology_of
from streams.router.live_catalog import catalog_from, latest_catalog

LOCAL_GAP = 3.0
"""Seconds between the two samples taken here when no worker answers."""


@click.group("ops")
def ops() -> None:
    """Watch the bus: consumer lag per district, throughput, latency, dead letters, connectors.

    The running worker samples the bus every few seconds and judges each subscriber's consumer
    groups over a sliding window (Burrow's rules: OK, WARN lag growing, STALL commits not moving,
    STOP no commits, ERROR offsets rewound; NONE: no consumer group). It also serves the same
    figures at /api/ops/status, /metrics (Prometheus) and /dashboard.
    """


@ops.command("status")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option(
    "--every",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="Seconds between refreshes with --watch.",
)
@json_option
@handle_errors
def status(watch: bool, every: float, as_json: bool) -> None:
    """Lag and status per subscriber (districts first), throughput, latency, dead letters and
    connectors: from the running worker, or sampled here (twice, a few seconds apart) when no
    worker answers at SHAREBUS_WEB_HOST:SHAREBUS_WEB_PORT."""
    settings = get_settings()
    source = StatusSource(settings)
    if not watch:
        require_kafka(settings)
    while True:
        report = source.report()
        failed = report["sampler"]["error"]
        if failed and not watch:  # --watch keeps showing the last figures, with the error noted
            raise (UnreachableError if "did not answer" in failed else OpsError)(
                "ops status",
                "the bus cannot be sampled now: the last sample failed",
                actual=failed,
                fix="check Kafka (`sharebus stack status`; `sharebus stack up`); the worker waits out an"
                " outage and samples again every few seconds (`ops status --watch` shows it)",
            )
        report["calls_24h"] = calls_by(settings)
        if as_json:
            emit_json(report)
        else:
            if watch:
                click.clear()
            click.echo(render(report))
        if not watch:
            return
        time.sleep(every)


def require_kafka(settings: Settings) -> None:
    """Kafka answers from here (a KafkaException otherwise: exit 6 naming it). The worker's figures
    are up to one sample interval old: a broker gone since must be said now, not a sample later."""
    admin_client(kafka_config(settings)).list_topics(timeout=5)


class StatusSource:
    """The worker's report, or a monitor sampling here that keeps its window across --watch."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.local: OpsMonitor | None = None

    def report(self) -> dict[str, Any]:
        if self.local is None:
            report, where = fetch_status(self.settings)
            if report is not None:
                return report
            progress(
                f"{where}: sampling Kafka here, twice {LOCAL_GAP:.0f} s apart"
                " (no router figures; commits not observed)"
            )
            self.local = local_monitor(self.settings, note=f"sampled by the CLI: {where}")
            self.local.sample_connectors()
            self._sample()
            time.sleep(LOCAL_GAP)
        self._sample()
        return self.local.report()

    def _sample(self) -> None:
        assert self.local is not None
        self.local.sample()
        if self.local.error is not None:
            raise SharebusError("ops sample", self.local.error, fix="check `sharebus stack status`")


def local_monitor(settings: Settings, *, note: str) -> OpsMonitor:
    """A monitor for one CLI run: the live catalog (or the local folder), no commit tracking."""
    topology = catalog_topology(settings)
    return OpsMonitor(
        KafkaSampler(kafka_config(settings), observe_commits=False),
        lambda: topology,
        interval=LOCAL_GAP,
        window=10,
        min_samples=2,
        connectors=ConnectorSampler(settings),
        source="cli",
        note=note,
    )


def catalog_topology(settings: Settings) -> Topology:
    texts = latest_catalog(settings)
    if texts is not None:
        return topology_of(catalog_from(texts, f"topic {settings.catalog_topic}"))
    return topology_of(load_catalog(city_dir(settings.catalog_dir, settings.city)))


def calls_by(settings: Settings) -> dict[str, Any]:
    """Delivered calls of the last 24 h per district and per department (from the metrics)."""
    out: dict[str, Any] = {}
    for by in ("district", "department"):
        try:
            report = fetch_report(settings, "calls", {"by": by, "since": "24h"}, timeout=10.0)
        except SharebusError as exc:
            return {"error": f"{exc.subject}: {exc.problem}"}
        out[by] = {row[by]: row["delivered"] for row in report["rows"]}
    return out


# --- the screen ------------------------------------------------------------------------------------
def render(report: dict[str, Any]) -> str:
    sampler, summary = report["sampler"], report["summary"]
    by_status = " · ".join(f"{k} {v}" for k, v in summary["subscribers_by_status"].items())
    how = "by the worker" if sampler["source"] == "worker" else "here (no worker answered)"
    lines = [
        f"bus: {summary['status']}   sampled {sampler['last_sample_at']} {how},"
        f" every {sampler['interval_s']:g} s,"
        f" window {sampler['samples_in_window']} of {sampler['window_samples']} samples"
        f" ({sampler['window_span_s']} s)"
        f"   catalog {report['catalog_version']}",
        f"subscribers: {by_status}   lag {summary['lag_records']:,} records, oldest"
        f" {_secs(summary['max_lag_seconds'])}   dead letters held {summary['dead_letters']:,}",
    ]
    for note in (sampler["note"], sampler["error"] and f"sample failed: {sampler['error']}"):
        if note:
            lines.append(f"note: {note}")
    calls = report.get("calls_24h") or {}
    per_district = calls.get("district", {})
    subs = report["subscribers"]
    for title, rows in (
        ("districts", [s for s in subs if s["district"]]),
        ("zones and departments", [s for s in subs if not s["district"]]),
    ):
        lines += ["", title, table([_subscriber_row(s, per_district) for s in rows], SUBSCRIBER_HEADERS)]
    if calls.get("error"):
        lines.append(f"calls: {calls['error']}")
    lines += ["", _router(report.get("router"))]
    lines += ["", "capture topics", table([_raw_row(t) for t in report["raw_topics"]], RAW_HEADERS)]
    lines += ["", "dead letters", table([_dlq_row(d) for d in report["dead_letters"]], DLQ_HEADERS)]
    lines += ["", "connectors", _connectors(report.get("connectors"))]
    alerts = (report.get("security") or {}).get("alerts") or []
    if alerts:
        rows = [[a["at"], a["kind"], a["subscriber"], _alert_detail(a)] for a in alerts[-10:]]
        lines += ["", "security alerts (newest last)", table(rows, ["at", "kind", "who", "detail"])]
    return "\n".join(lines)


def _alert_detail(alert: dict[str, Any]) -> str:
    if alert["kind"] == "new_address":
        return f"{alert['address']} (group {alert['group']}; known {', '.join(alert['known']) or '-'})"
    if alert["kind"] == "authorization_denials":
        last = f"{alert['operation']} on {alert['resource']} from {alert['host']}"
        return f"{alert['count']} denied, the last {last}"
    usual = alert.get("usual_records")
    seen = "-" if usual is None else usual
    return f"read {alert['records']:,} records in {alert['seconds']} s (usual {seen})"


SUBSCRIBER_HEADERS = [
    "subscriber",
    "name",
    "status",
    "lag",
    "behind",
    "unread",
    "rec/s 1m",
    "calls 24h",
    "why",
]
RAW_HEADERS = ["topic", "department", "rec/s 1m", "rec/s 5m", "router B/s 1m", "last record"]
DLQ_HEADERS = ["department", "held", "rec/s 5m", "latest reason"]


def _subscriber_row(s: dict[str, Any], calls: dict[str, int]) -> list[object]:
    why = "" if s["status"] in ("OK", "NONE") else s["reason"]
    unread = f"{s['unconsumed_records']:,}" if s["unconsumed_records"] else ""
    called = f"{calls[s['subscriber']]:,}" if s["subscriber"] in calls else ""
    return [
        s["subscriber"],
        s["name"],
        s["status"],
        f"{s['lag_records']:,}",
        _secs(s["lag_seconds"]),
        unread,
        _rate(s["records_per_s"]["1m"]),
        called,
        why[:90],
    ]


def _raw_row(t: dict[str, Any]) -> list[object]:
    router = t["router_bytes_per_s"]
    return [
        t["topic"],
        t["department"],
        _rate(t["records_per_s"]["1m"]),
        _rate(t["records_per_s"]["5m"]),
        size(router["1m"]) + "/s" if router else "-",
        "-" if t["age_s"] is None else f"{_secs(t['age_s'])} ago",
    ]


def _dlq_row(d: dict[str, Any]) -> list[object]:
    latest = d["latest"][0] if d["latest"] else None
    reason = ""
    if latest:
        reason = f"{latest['at'][:19]} {latest['check']} {latest['resource'] or '-'}: {latest['reason']}"
    return [d["department"], f"{d['depth']:,}", _rate(d["records_per_s"]["5m"]), reason[:100]]


def _router(router: dict[str, Any] | None) -> str:
    if router is None:
        return "router: no figures (they come from a running worker)"
    lines = [f"router (this worker, since {router['since']})"]
    for label, w in router["windows"].items():
        lat = w["latency_ms"]
        latency = "-" if lat["p50"] is None else f"p50 {lat['p50']:g} ms, p99 {lat['p99']:g} ms"
        lines.append(
            f"  {label}: read {w['in_records_per_s']:g} rec/s ({size(w['in_bytes_per_s'])}/s), delivered"
            f" {w['delivered_per_s']:g} rec/s ({size(w['delivered_bytes_per_s'])}/s), dead letters"
            f" {w['dead_letters_per_s']:g}/s, withheld {w['withheld_per_s']:g}/s, latency {latency}"
        )
    return "\n".join(lines)


def _connectors(sample: dict[str, Any] | None) -> str:
    if sample is None:
        return "not sampled yet"
    if sample["error"]:
        return f"Kafka Connect: {sample['error']}"
    rows = [
        [
            c["name"],
            c["state"],
            " ".join(f"{t['id']}:{t['state']}" for t in c["tasks"]),
            _retained(c.get("retention")),
            (c.get("error") or "").split("\n")[0][:80],
        ]
        for c in sample["items"]
    ]
    return table(rows, ["connector", "state", "tasks", "log retained", "error"])


def _retained(retention: dict[str, Any] | None) -> str:
    if not retention or retention.get("retained_bytes") is None:
        return "-"
    return f"{size(retention['retained_bytes'])} ({retention['name']})"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 90:
        return f"{value:.0f} s"
    if value < 5400:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
