"""The bus with a seeds-scale catalog on the running stack: `acl sync` from empty and for one
changed demand, the router's start (its topics made, the policy compiled, ready), the broker's
RSS, open files and partitions with it, and routing over Kafka across ≥ 1,000 resources against
a raw consume→produce copy of the same records in the same run. Everything it makes is deleted
after, and the deployment's ACLs are synced back to its own catalog."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer, TopicPartition

from bench.router.run import drop_topics, raw_copy, time_routing, worker_env
from bench.scale.routing import records
from sharebus.apps.acl.broker import Broker
from sharebus.apps.acl.grants import user
from sharebus.apps.acl.sync import AclPlan, apply, subscribers_of, sync
from sharebus.apps.district.live import live_catalog
from sharebus.apps.worker_process import WorkerProcess
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, DemandStatus
from sharebus.core.kafka_clients import Replication, admin_client, ensure_topics, kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.stack.manager import LocalStack
from streams.router.topics import RAW_TOPIC_CONFIG, raw_topics

START_TIMEOUT = 600.0
Log = Callable[[str], None]


@dataclass
class BrokerFigures:
    rss_mib: float
    open_files: int
    partitions: int


def broker_figures(settings: Settings) -> BrokerFigures:
    pid = LocalStack(settings).component("kafka").running_pid()
    if pid is None:
        raise RuntimeError("no local Kafka is running: start the stack (`sharebus stack up`)")
    topics = admin_client(kafka_config(settings)).list_topics(timeout=10).topics
    return BrokerFigures(
        _rss_mib(pid),
        len(list(Path(f"/proc/{pid}/fd").iterdir())),
        sum(len(t.partitions) for t in topics.values()),
    )


def acl_figures(settings: Settings, catalog: Catalog, log: Log) -> list[str]:
    """`acl sync` from empty (the catalog's subscribers' grants removed first) and after one
    demand is revoked; the deployment's own catalog is synced back after."""
    broker = Broker(settings)
    subscribers = {user(s) for s in subscribers_of(catalog)}
    theirs = tuple(sorted(g for g in broker.grants() if g.principal in subscribers))
    apply(settings, broker, AclPlan(add=(), remove=theirs, kept=0, unmanaged=0), None)
    t0 = time.perf_counter()
    first = sync(settings, catalog)
    empty_s = time.perf_counter() - t0
    revoked = next(d for d in catalog.demands if d.status is DemandStatus.APPROVED and d.valid_until)
    demands = tuple(
        d.model_copy(update={"status": DemandStatus.REVOKED}) if d is revoked else d for d in catalog.demands
    )
    changed = Catalog.model_validate(
        {**{f: getattr(catalog, f) for f in Catalog.model_fields}, "demands": demands}
    )
    t0 = time.perf_counter()
    second = sync(settings, changed)
    one_s = time.perf_counter() - t0
    restored = sync(settings, live_catalog(settings))
    log(
        f"  ACLs restored to the deployment's catalog: {len(restored.add)} added,"
        f" {len(restored.remove)} removed"
    )
    return [
        f"acl sync from empty: {empty_s:.2f}s ({len(first.add)} bindings added); one demand revoked:"
        f" {one_s:.2f}s ({len(second.add)} added, {len(second.remove)} removed) — targets 10 s and 1 s",
    ]


def preload(settings: Settings, catalog: Catalog, n: int, resources: int = 1000) -> list[str]:
    """`n` Debezium-like inserts spread over `resources` resources, on the catalog's raw topics."""
    topics = raw_topics(catalog)
    ensure_topics(
        admin_client(kafka_config(settings)),
        {t: (settings.kafka_partitions, RAW_TOPIC_CONFIG) for t in topics},
        Replication.of(settings),
    )
    producer = Producer(
        {
            **kafka_config(settings),
            "linger.ms": 20,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    for i, rec in enumerate(records(catalog, resources, n)):
        producer.produce(rec.topic, rec.value, rec.key)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    return topics


def routing_figures(settings: Settings, directory: Path, n: int, work: Path, log: Log) -> list[str]:
    """One worker with the catalog loaded routes `n` records of one resource, then (restarted)
    `n` records spread over 1,000 resources twice: the first pass warms it, the second is timed
    as its steady state. A raw copy of the one-resource records is the baseline."""
    catalog = load_catalog(directory)
    tag = uuid.uuid4().hex[:8]
    log(f"  preloading {n:,} events of one resource into {len(raw_topics(catalog))} raw topics…")
    topics = preload(settings, catalog, n, resources=1)
    copy_topic = f"bench.copy.{tag}"
    ensure_topics(
        admin_client(kafka_config(settings)),
        {copy_topic: (settings.kafka_partitions, RAW_TOPIC_CONFIG)},
        Replication.of(settings),
    )
    baseline = raw_copy(settings, topics, copy_topic, n)
    log(f"  raw copy: {baseline:,.0f} records/s")
    before = broker_figures(settings)
    env = worker_env(settings, directory.parent, work, tag)
    partitions = [TopicPartition(t, p) for t in topics for p in range(settings.kafka_partitions)]
    worker = WorkerProcess(env, work / "worker.log")
    t0 = time.perf_counter()
    worker.start(timeout=START_TIMEOUT)
    start_s = time.perf_counter() - t0
    assert worker.pid is not None
    after = broker_figures(settings)
    rss = _rss_mib(worker.pid)
    log(f"  router ready in {start_s:.1f}s (worker RSS {rss:.0f} MiB); routing one resource…")
    try:
        one, one_cpu, _, _ = time_routing(settings, worker, partitions, n, work)
        peak = _rss_mib(worker.pid, "VmHWM")
    finally:
        worker.stop()
    log(f"  one resource: {one:,.0f} records/s; preloading {n:,} events over 1,000 resources…")
    preload(settings, catalog, n)
    worker = WorkerProcess(env, work / "worker-wide.log")
    worker.start(timeout=START_TIMEOUT)
    assert worker.pid is not None
    try:
        # The first pass makes each resource's lane and Avro writer and each topic's producer;
        # a worker that has run a while has them all. The second pass, the same mix preloaded
        # while the worker idles, is the steady state.
        first, first_cpu, _, _ = time_routing(settings, worker, partitions, n, work, base=n, warm=n // 3)
        log(f"  1,000 resources, first pass: {first:,.0f} records/s; preloading the same mix again…")
        preload(settings, catalog, n)
        wide, wide_cpu, _, _ = time_routing(settings, worker, partitions, n, work, base=2 * n)
        peak = max(peak, _rss_mib(worker.pid, "VmHWM"))
    finally:
        worker.stop()
    return [
        f"router start with {len(catalog.resources):,} resources: {start_s:.1f}s to ready (topics made,"
        f" policy compiled, schemas registered); worker RSS {rss:.0f} MiB at ready, {peak:.0f} MiB peak",
        f"broker: {before.rss_mib:.0f} → {after.rss_mib:.0f} MiB RSS,"
        f" {before.open_files:,} → {after.open_files:,} open files,"
        f" {before.partitions:,} → {after.partitions:,} partitions",
        f"routing over Kafka, one resource: {one:,.0f} records/s ({one_cpu:.0f} µs CPU per record);"
        f" raw copy {baseline:,.0f} records/s (ratio {one / baseline:.2f}); target ≥ 20,000 per worker",
        f"routing over Kafka across 1,000 resources: {wide:,.0f} records/s ({wide_cpu:.0f} µs CPU per"
        f" record; steady state: the mix's second pass), {wide / one:.2f} of one resource; first pass"
        f" {first:,.0f} records/s ({first_cpu:.0f} µs; timed after its first third)",
    ]


def _rss_mib(pid: int, field: str = "VmRSS") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:")) / 1024


def cleanup(settings: Settings, catalog: Catalog, marks: list[str]) -> int:
    """Delete every topic of the generated departments (`d001`…, never a sample one) and of the run."""
    depts = {d.id for d in catalog.departments if re.fullmatch(r"d\d{3}", d.id)}
    return drop_topics(settings, *marks, also=lambda t: t.rpartition(".")[2] in depts)


def bus_figures(settings: Settings, directory: Path, n: int, work: Path, log: Log) -> list[str]:
    catalog = load_catalog(directory)
    lines: list[str] = []
    try:
        lines += acl_figures(settings, catalog, log)
        lines += routing_figures(settings, directory, n, work, log)
    finally:
        deleted = cleanup(settings, catalog, ["bench-router-", "bench-catalog-", "bench.copy."])
        log(f"  deleted {deleted:,} topics")
    return lines
