"""The ops status report: lag and status per subscriber (districts first), throughput per raw,
subscriber and dead-letter topic and through the router, latency, dead letters and connectors,
as one JSON document (what `/api/ops/status`, `ops status --json` and the dashboard show)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sharebus.core import naming
from streams.ops.connector_states import ConnectorsSample
from streams.ops.lag import SubscriberLag, subscriber_lags
from streams.ops.meter import RouterMeter, RouterWindow
from streams.ops.model import TP, DeadLetter, Snapshot, iso
from streams.ops.status import Status, worst
from streams.ops.throughput import WINDOWS, EndSample, Rate, window_rates
from streams.ops.topology import Topology


@dataclass(frozen=True)
class SamplerInfo:
    """How the figures were sampled, for the reader to judge them."""

    source: str  # "worker" | "cli"
    interval: float
    window: int
    min_samples: int
    samples: int
    error: str | None = None
    note: str | None = None
    last_cpu_ms: float | None = None


def build_report(
    *,
    topology: Topology,
    window: Sequence[Snapshot],
    history: Sequence[EndSample],
    info: SamplerInfo,
    dead_letters: Mapping[TP, list[DeadLetter]],
    meter: RouterMeter | None = None,
    connectors: ConnectorsSample | None = None,
    now: float,
) -> dict[str, Any]:
    latest = window[-1] if window else None
    rates = window_rates(history)
    lags = subscriber_lags(window, topology, min_samples=info.min_samples)
    router = _router(meter, now)
    windows = {label: meter.window(seconds, now) for label, seconds in WINDOWS.items()} if meter else {}
    subscribers = [_subscriber(topology, lag, rates, windows) for lag in lags]
    statuses = [Status(s["status"]) for s in subscribers]
    return {
        "generated_at": iso(now),
        "catalog_version": topology.version,
        "sampler": {
            "source": info.source,
            "interval_s": info.interval,
            "window_samples": info.window,
            "min_samples": info.min_samples,
            "samples": info.samples,
            "samples_in_window": len(window),
            "window_span_s": round(window[-1].at - window[0].at, 1) if window else 0.0,
            "last_sample_at": iso(latest.at) if latest else None,
            "last_sample_ms": round(latest.duration * 1000, 1) if latest else None,
            "last_sample_cpu_ms": info.last_cpu_ms,
            "commits_observed_since": iso(latest.commits_since) if latest else None,
            "error": info.error,
            "note": info.note,
        },
        "summary": {
            "status": worst(s for s in statuses if s is not Status.NONE).value if statuses else "NONE",
            "subscribers_by_status": dict(sorted(Counter(s.value for s in statuses).items())),
            "lag_records": sum(s["lag_records"] for s in subscribers),
            "max_lag_seconds": max((s["lag_seconds"] or 0.0 for s in subscribers), default=0.0),
            "dead_letters": _depth(latest),
        },
        "subscribers": subscribers,
        "departments": _departments(topology, latest, rates, connectors),
        "raw_topics": _raw_topics(topology, latest, rates, windows),
        "router": router,
        "dead_letters": _dead_letters(topology, latest, rates, dead_letters),
        "connectors": connectors.to_dict() if connectors else None,
    }


def _depth(latest: Snapshot | None) -> int:
    if latest is None:
        return 0
    return sum(max(latest.ends.get(tp, 0) - start, 0) for tp, start in latest.starts.items())


def _per_s(rates: Mapping[str, Mapping[str, Rate]], topic: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for label in WINDOWS:
        rate = rates.get(label, {}).get(topic)
        out[label] = round(rate.per_second, 2) if rate else None
    return out


def _sum_per_s(rates: Mapping[str, Mapping[str, Rate]], topics: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for label in WINDOWS:
        known = [rates.get(label, {}).get(t) for t in topics]
        values = [r.per_second for r in known if r is not None]
        out[label] = round(sum(values), 2) if values else None
    return out


def _subscriber(
    topology: Topology,
    lag: SubscriberLag,
    rates: Mapping[str, Mapping[str, Rate]],
    windows: Mapping[str, RouterWindow],
) -> dict[str, Any]:
    info = topology.subscriber(lag.subscriber)
    read = lag.topic_lag()
    readers: dict[str, list[str]] = defaultdict(list)
    for g in lag.groups:
        for t in g.topics:
            readers[t.topic.topic].append(g.group)
    topics = [t.topic for t in lag.topics]
    minute = windows.get("1m")
    delivered = sum(minute.delivered.get(t, [0, 0])[0] for t in topics) if minute else 0
    return {
        "subscriber": lag.subscriber,
        "name": info.name if info else lag.subscriber,
        "kind": info.kind if info else "",
        "district": bool(info and info.is_district),
        "status": (lag.status if lag.groups else Status.NONE).value,
        "reason": lag.worst_reason(),
        "lag_records": lag.lag,
        "lag_seconds": None if lag.seconds is None else round(lag.seconds, 1),
        "unconsumed_records": sum(lag.ends.get(t.topic, 0) for t in lag.unconsumed),
        "records_per_s": _sum_per_s(rates, topics),
        "delivered_per_s_1m": round(delivered / minute.span, 2) if minute and minute.span else None,
        "lag_by_department": lag.by_department(),
        "groups": [g.to_dict() for g in lag.groups],
        "topics": [
            {
                "topic": t.topic,
                "department": t.department,
                "end": lag.ends.get(t.topic, 0),
                "lag_records": read.get(t.topic),
                "read_by": readers.get(t.topic, []),
                "records_per_s": _per_s(rates, t.topic),
                "router_delivered_per_s": _router_rate(windows, "delivered", t.topic, 0),
                "router_delivered_bytes_per_s": _router_rate(windows, "delivered", t.topic, 1),
            }
            for t in lag.topics
        ],
    }


def _departments(
    topology: Topology,
    latest: Snapshot | None,
    rates: Mapping[str, Mapping[str, Rate]],
    connectors: ConnectorsSample | None,
) -> list[dict[str, Any]]:
    states = {c.get("department"): c for c in (connectors.items if connectors else ())}
    out = []
    for dept, name in topology.departments.items():
        raw = [t for t in topology.raw_topics if topology.department_of_raw(t) == dept]
        dlq = naming.dlq_topic(dept)
        depth = None
        if latest is not None:
            depth = sum(max(e - latest.starts.get(tp, 0), 0) for tp, e in latest.ends.items() if tp[0] == dlq)
        conn = states.get(dept)
        out.append(
            {
                "department": dept,
                "name": name,
                "raw_topics": raw,
                "records_per_s": _sum_per_s(rates, raw),
                "dead_letters": depth,
                "connector": conn.get("name") if conn else None,
                "connector_state": conn.get("state") if conn else None,
            }
        )
    return out


def _raw_topics(
    topology: Topology,
    latest: Snapshot | None,
    rates: Mapping[str, Mapping[str, Rate]],
    windows: Mapping[str, RouterWindow],
) -> list[dict[str, Any]]:
    if latest is None:
        return []
    out = []
    for topic, resources in topology.raw_topics.items():
        parts = [tp for tp in latest.ends if tp[0] == topic]
        if not parts:
            continue
        stamps = [latest.record_times.get((t, p, latest.ends[(t, p)] - 1)) for t, p in parts]
        newest = max((s for s in stamps if s is not None), default=None)
        out.append(
            {
                "topic": topic,
                "department": topology.department_of_raw(topic),
                "resources": list(resources),
                "end": sum(latest.ends[tp] for tp in parts),
                "records_per_s": _per_s(rates, topic),
                "router_records_per_s": _router_rate(windows, "raw", topic, 0),
                "router_bytes_per_s": _router_rate(windows, "raw", topic, 1),
                "last_record_at": iso(newest),
                "age_s": None if newest is None else round(max(latest.at - newest, 0.0), 1),
            }
        )
    return out


def _router_rate(
    windows: Mapping[str, RouterWindow], table: str, key: str, index: int
) -> dict[str, float] | None:
    """Per window: records (index 0) or bytes (1) per second of `key` in the meter's `table`."""
    if not windows:
        return None
    return {label: round(w.per_second(getattr(w, table).get(key), index), 2) for label, w in windows.items()}


def _router(meter: RouterMeter | None, now: float) -> dict[str, Any] | None:
    if meter is None:
        return None
    return {
        "since": iso(meter.started),
        "windows": {label: meter.window(seconds, now).summary() for label, seconds in WINDOWS.items()},
        "series": meter.series(now),
    }


def _dead_letters(
    topology: Topology,
    latest: Snapshot | None,
    rates: Mapping[str, Mapping[str, Rate]],
    letters: Mapping[TP, list[DeadLetter]],
) -> list[dict[str, Any]]:
    if latest is None:
        return []
    out = []
    for topic, dept in topology.dlq_topics.items():
        parts = [tp for tp in latest.ends if tp[0] == topic]
        if not parts:
            continue
        newest = sorted((d for tp in parts for d in letters.get(tp, [])), key=lambda d: d.at, reverse=True)
        out.append(
            {
                "department": dept,
                "topic": topic,
                "depth": sum(max(latest.ends[tp] - latest.starts.get(tp, 0), 0) for tp in parts),
                "end": sum(latest.ends[tp] for tp in parts),
                "records_per_s": _per_s(rates, topic),
                "latest": [d.to_dict() for d in newest[:5]],
            }
        )
    return sorted(out, key=lambda d: (-d["depth"], d["department"]))
