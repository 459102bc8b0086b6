"""Router benchmark: records/s through `sharebus worker` (full policy, 40 subscribers, Avro)
against a raw confluent-kafka consume→produce copy of the same records in the same run, and
end-to-end latency (source commit → subscriber topic) at a steady change rate through Debezium.

    python -m bench.router.run [--records 200000] [--rate 2000] [--seconds 20] [--quick] [--no-tls-cost]

With TLS on (the default), the copy and the router run twice over the same records: on the stack's
broker over TLS, then on a throwaway SASL_PLAINTEXT broker started beside it with the same heap —
the TLS cost, measured in one run.

Prints figures and ratios; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.router import cleartext
from connectors.client import ConnectClient
from connectors.publication import drop_publication, drop_slot
from connectors.register import register_postgres
from connectors.render import CaptureSpec
from sharebus.apps.acl.grants import router_grants
from sharebus.apps.acl.sync import grant
from sharebus.apps.worker_process import WorkerProcess
from sharebus.catalog.rename import rename_departments
from sharebus.core import naming
from sharebus.core.kafka_clients import Replication, admin_client, ensure_topics, kafka_config
from sharebus.core.naming import H_COMMIT_TS
from sharebus.core.settings import Settings
from sharebus.dev.samples.connectors import sample_spec
from sharebus.dev.samples.database import apply_schema
from sharebus.dev.samples.departments import get_department
from sharebus.dev.samples.generator import ChangeGenerator
from sharebus.dev.samples.rows import RowFactory
from sharebus.dev.stack.manager import LocalStack
from sharebus.testing.builders import as_debezium_json, debezium_bytes
from streams.router.live_catalog import publish_catalog
from streams.router.topics import RAW_TOPIC_CONFIG

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "catalog" / "chongqing"


def log(msg: str) -> None:
    print(msg, flush=True)


def debezium_event(row: dict[str, Any], dept: str, lsn: int) -> bytes:
    """An insert of `row` as Debezium writes it, committed now."""
    return debezium_bytes(
        "c",
        None,
        as_debezium_json(row),
        department=dept,
        db="dept_market",
        lsn=lsn,
        tx_id=lsn,
        ts_ms=int(time.time() * 1000),
    )


def preload(settings: Settings, topic: str, dept: str, n: int) -> None:
    """Fill the raw topic with `n` Debezium-like enterprise inserts spread over every district."""
    factory = RowFactory.for_settings(settings, seed=1)
    producer = Producer(
        {
            **kafka_config(settings),
            "linger.ms": 20,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    for i in range(n):
        row = factory.enterprise()
        producer.produce(topic, debezium_event(row, dept, 1000 + i), orjson.dumps({"uscc": row["uscc"]}))
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)


def raw_copy(settings: Settings, source: str | list[str], target: str, n: int) -> float:
    """Baseline: consume `n` records (of one topic or several) and produce each unchanged; records/s."""
    consumer = Consumer(
        {
            **kafka_config(settings),
            "group.id": f"bench-copy-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 8 * 1024 * 1024,
        }
    )
    producer = Producer(
        {
            **kafka_config(settings),
            "linger.ms": 5,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    consumer.subscribe(source if isinstance(source, list) else [source])
    done, started = 0, 0.0
    while done < n:
        msgs = consumer.consume(1000, 1.0)
        if msgs and not started:
            started = time.perf_counter()
        for m in msgs:
            if m.error():
                continue
            producer.produce(target, m.value(), m.key())
            done += 1
        producer.poll(0)
    producer.flush(60)
    consumer.commit(asynchronous=False)
    elapsed = time.perf_counter() - started
    consumer.close()
    return n / elapsed


def committed(consumer: Consumer, partitions: list[TopicPartition]) -> int:
    """The group's committed offsets over the partitions (the consumer only asks, never joins)."""
    return sum(max(0, tp.offset) for tp in consumer.committed(partitions, timeout=10))


def time_routing(
    settings: Settings,
    worker: WorkerProcess,
    partitions: list[TopicPartition],
    n: int,
    work: Path,
    base: int = 0,
    warm: int = 0,
) -> tuple[float, float, int, int]:
    """Wait until the worker's group committed `n` records over `partitions` beyond the `base`
    committed before: its records/s and CPU µs per record, timed from the first committed batch
    past `base + warm` (the group join, and the first `warm` records, are not timed); and the
    records timed and done. One client polls the progress: a new one per poll would cost the
    worker CPU (SASL logins)."""
    assert worker.pid is not None
    progress = Consumer({**kafka_config(settings), "group.id": worker.env["SHAREBUS_ROUTER_ID"]})
    try:
        started: tuple[float, float, int] | None = None
        last, moved = 0, time.monotonic()
        while (done := committed(progress, partitions)) < base + n:
            if not worker.alive():
                raise worker.died()
            if done != last:
                last, moved = done, time.monotonic()
            elif time.monotonic() - moved > 120:
                raise RuntimeError(
                    f"router stalled at {done:,} of {n:,} records: see the worker log in {work}"
                )
            if started is None and done > base + warm:
                started = (time.perf_counter(), cpu_seconds(worker.pid), done)
            time.sleep(0.1 if started is None else 0.25)
        t1, cpu1 = time.perf_counter(), cpu_seconds(worker.pid)
    finally:
        progress.close()
    t0, cpu0, done0 = started or (t1, cpu1, base)
    routed = base + n - done0
    return routed / max(t1 - t0, 1e-9), (cpu1 - cpu0) / max(routed, 1) * 1e6, routed, done


def drop_topics(settings: Settings, *marks: str, also: Callable[[str], bool] = lambda _: False) -> int:
    """Delete the run's topics (names containing a mark, or `also` true of them), 500 per request:
    a benchmark's hundreds of MB per run would otherwise pile up in the broker's page cache and
    slow the next runs. How many."""
    admin = admin_client(kafka_config(settings))
    doomed = [t for t in admin.list_topics(timeout=10).topics if also(t) or any(m in t for m in marks)]
    for start in range(0, len(doomed), 500):
        for future in admin.delete_topics(doomed[start : start + 500], operation_timeout=60).values():
            future.result()
    return len(doomed)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_env(settings: Settings, catalog_dir: Path, work: Path, tag: str) -> dict[str, str]:
    """The bench worker's own router id and catalog topic; the router principal is granted what
    they need (as `sharebus acl sync` does for the deployment's)."""
    env = {
        **os.environ,
        "SHAREBUS_CATALOG_DIR": str(catalog_dir),
        "SHAREBUS_CITY": "chongqing",
        "SHAREBUS_ROUTER_ID": f"bench-router-{tag}",
        "SHAREBUS_CATALOG_TOPIC": f"bench-catalog-{tag}",
        "SHAREBUS_WEB_PORT": str(_free_port()),
        "SHAREBUS_METRICS_URL": f"chdb://{work / 'metrics'}",
    }
    own = settings.model_copy(
        update={"router_id": env["SHAREBUS_ROUTER_ID"], "catalog_topic": env["SHAREBUS_CATALOG_TOPIC"]}
    )
    grant(own, router_grants(own))
    publish_catalog(
        own.model_copy(update={"catalog_dir": catalog_dir, "city": "chongqing"})
    )  # workers never do
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def throughput(settings: Settings, n: int, work: Path, *, tls_cost: bool = True) -> dict[str, float]:
    """The raw copy and the router over the same `n` records; with `tls_cost`, both again on a
    cleartext broker started beside the stack's (the `_clear` figures): what TLS costs."""
    tag = uuid.uuid4().hex[:8]
    figures = _copy_and_route(settings, n, work, tag)
    if tls_cost and settings.kafka_tls:
        with cleartext.cleartext_broker(settings, work, log) as clear:
            plain = _copy_and_route(clear, n, work, f"{tag}c")
        figures |= {f"{name}_clear": value for name, value in plain.items()}
    return figures


def _copy_and_route(settings: Settings, n: int, work: Path, tag: str) -> dict[str, float]:
    side = settings.kafka_security_protocol
    dept = f"bench_{tag}"
    catalog = rename_departments(SAMPLE, work / f"catalog-{tag}" / "chongqing", {"market": dept})
    topic = naming.raw_topic(naming.raw_prefix(dept))
    ensure_topics(
        admin_client(kafka_config(settings)),
        {
            topic: (settings.kafka_partitions, RAW_TOPIC_CONFIG),
            f"bench.copy.{tag}": (settings.kafka_partitions, RAW_TOPIC_CONFIG),
        },
        Replication.of(settings),
    )
    log(f"preloading {n:,} Debezium-like enterprise events into {topic} ({side})…")
    preload(settings, topic, dept, n)
    try:
        log(f"baseline ({side}): raw confluent-kafka consume → produce copy…")
        baseline = raw_copy(settings, topic, f"bench.copy.{tag}", n)
        log(f"  {baseline:,.0f} records/s")
        log(f"router ({side}): sharebus worker, full policy (40 subscribers, masks, Avro, lineage headers)…")
        env = worker_env(settings, catalog.parent, work, tag)
        env |= {
            "SHAREBUS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "SHAREBUS_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        }
        worker = WorkerProcess(env, work / f"worker-{tag}.log")
        worker.start()
        assert worker.pid is not None
        partitions = [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]
        try:
            rate, cpu_us, routed, done = time_routing(settings, worker, partitions, n, work)
        finally:
            worker.stop()
    finally:
        drop_topics(settings, dept, tag)
    log(f"  {rate:,.0f} records/s, {cpu_us:.0f} µs CPU per record (worker), {routed:,} of {done:,} timed")
    return {"baseline": baseline, "router": rate, "cpu_us": cpu_us}


def latency(settings: Settings, rate: float, seconds: float, work: Path) -> dict[str, float]:
    """Commit at `rate` changes/s into the sample market database through a Debezium connector and
    the router; latency = arrival at a subscriber topic − source commit time."""
    tag = uuid.uuid4().hex[:8]
    dept = f"lat_{tag}"
    base = sample_spec(get_department("market"), settings, snapshot_mode="no_data")
    spec = CaptureSpec(**{**base.__dict__, "department": dept})
    admin_dsn = settings.pg_dsn("dept_market")
    client = ConnectClient.of(settings)
    register_postgres(
        client,
        spec,
        settings,
        password=settings.pg_cdc_password.get_secret_value(),
        admin_dsn=admin_dsn,
        echo=log,
    )
    catalog = rename_departments(SAMPLE, work / "lat-catalog" / "chongqing", {"market": dept})
    worker = WorkerProcess(worker_env(settings, catalog.parent, work, f"lat{tag}"), work / "lat-worker.log")
    samples: list[float] = []
    stop = threading.Event()
    consumer = Consumer(
        {
            **kafka_config(settings),
            "group.id": f"bench-lat-{tag}",
            "auto.offset.reset": "latest",
            "topic.metadata.refresh.interval.ms": 2000,
        }
    )

    def read() -> None:
        # every subscriber's topic of the department (one per subscriber and department)
        consumer.subscribe([f"^{re.escape(naming.SHARE_PREFIX)}[^.]+\\.{re.escape(dept)}$"])
        while not stop.is_set():
            msg = consumer.poll(0.2)
            if msg is None or msg.error() or msg.value() is None:
                continue
            now = time.time()
            commit = dict(msg.headers() or []).get(H_COMMIT_TS)
            if isinstance(commit, bytes):
                samples.append((now - datetime.fromisoformat(commit.decode()).timestamp()) * 1000)

    try:
        worker.start()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(5)  # group join of the reader
        log(f"generating {rate:g} changes/s for {seconds:g}s into dept_market (captured as {dept})…")
        counts = ChangeGenerator(settings, ["market"], rate=rate, mix={"insert": 0.5, "update": 0.5}).run(
            duration=seconds
        )
        time.sleep(3)
        stop.set()
        reader.join(10)
        log(
            f"  committed {counts.total:,} changes at {counts.rate:,.0f}/s; {len(samples):,} deliveries timed"
        )
    finally:
        worker.stop()
        consumer.close()
        client.delete(spec.connector_name)
        time.sleep(2)
        drop_slot(admin_dsn, spec.slot_name)
        drop_publication(admin_dsn, spec.publication_name)
        drop_topics(settings, dept, tag)
    qs = statistics.quantiles(samples, n=100) if len(samples) > 100 else [float("nan")] * 99
    return {"p50_ms": qs[49], "p99_ms": qs[98], "deliveries": float(len(samples))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="50k records, 10 s of latency")
    parser.add_argument(
        "--no-tls-cost", action="store_true", help="skip the same figures over a cleartext listener"
    )
    args = parser.parse_args()
    if args.quick:
        args.records, args.seconds = 50_000, 10.0
    settings = Settings()
    LocalStack(settings).up(log)
    apply_schema(settings, get_department("market"))  # the latency phase writes there (`samples init` or not)
    work = Path(tempfile.mkdtemp(prefix="sharebus-bench-"))  # kept: worker logs for a post-mortem
    log(f"work dir (worker logs): {work}")
    tp = throughput(settings, args.records, work, tls_cost=not args.no_tls_cost)
    lat = latency(settings, args.rate, args.seconds, work)
    log("")
    log("router benchmark (2 cores; broker, Connect and PostgreSQL on the same machine)")
    log(f"  raw copy baseline        {tp['baseline']:>10,.0f} records/s")
    log(
        f"  router, full policy      {tp['router']:>10,.0f} records/s"
        f"   ratio to baseline {tp['router'] / tp['baseline']:.2f}"
        f"   target 20,000/s: {tp['router'] / 20_000:.2f}×"
    )
    log(f"  router CPU per record    {tp['cpu_us']:>10,.0f} µs")
    if "router_clear" in tp:
        log("  TLS cost (same run; the cleartext side on a SASL_PLAINTEXT broker started beside it):")
        for name, label in (("baseline", "raw copy"), ("router", "router")):
            on, off = tp[name], tp[f"{name}_clear"]
            log(f"    {label:<9} TLS {on:>9,.0f}/s  clear {off:>9,.0f}/s   TLS/clear {on / off:.2f}")
        log(f"    router CPU per record    TLS {tp['cpu_us']:.0f} µs   clear {tp['cpu_us_clear']:.0f} µs")
    log(
        f"  end-to-end at {args.rate:g}/s   p50 {lat['p50_ms']:.0f} ms   p99 {lat['p99_ms']:.0f} ms"
        f"   ({lat['deliveries']:,.0f} deliveries)"
    )


if __name__ == "__main__":
    main()
