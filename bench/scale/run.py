"""The city's size: a seeds-scale catalog (bench/scale/catalog.py) read, validated and compiled as
`catalog publish` and the worker do, at 4,154 resources (the seeds' Chongqing) and 20,000 (the 2025
target), against the sample catalog of the same run. Prints times, peak memory and what the layout
asks of Kafka: subscriber topics, partitions in all and ACL bindings, against the layouts they
replaced; routing in process across 1,000 resources against one; then, on the running stack
(`sharebus stack up`), the bus-wide figures of bench/scale/bus.py: `acl sync` times, the router's
start, the broker's RSS, open files and partitions, routing over Kafka against a raw copy.

    python -m bench.scale.run [--resources 4154 20000] [--routing 4154] [--bus 300000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from bench.scale.catalog import SAMPLE_CITY, Scale, write
from sharebus.apps.acl.grants import desired_grants, service_grants
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import ALL_DISTRICTS, Catalog, DemandStatus
from sharebus.core import naming
from sharebus.core.settings import Settings
from streams.policy.compiled import Policy, compile_policy
from streams.quality import compile_checks
from streams.router.topics import router_topics

T = TypeVar("T")
BENCH_KEY = b"bench-only pseudonym key, 32 b."  # the sample catalog pseudonymises a field


def log(line: str) -> None:
    print(line, flush=True)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """(result, seconds)."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def measure(directory: Path) -> dict[str, float]:
    """Load, compile and list the entitlements of the catalog folder, in this process; with the
    process's peak RSS (run it in a fresh process: see `measured`)."""
    catalog, load_s = timed(lambda: load_catalog(directory))
    assert isinstance(catalog, Catalog)
    policy, compile_s = timed(lambda: compile_policy(catalog, pseudonym_key=BENCH_KEY))
    assert isinstance(policy, Policy)
    entitled, ent_s = timed(lambda: policy.entitlements(datetime.now(UTC)))
    checks, checks_s = timed(lambda: compile_checks(catalog))
    first = next(
        d for d in catalog.demands if d.status is DemandStatus.APPROVED and d.subscriber != ALL_DISTRICTS
    )
    demands = tuple(
        d.model_copy(update={"status": DemandStatus.REVOKED}) if d is first else d for d in catalog.demands
    )
    changed = Catalog.model_validate(
        {**{f: getattr(catalog, f) for f in Catalog.model_fields}, "demands": demands}
    )
    _, publish_s = timed(
        lambda: (
            compile_policy(changed, pseudonym_key=BENCH_KEY, previous=policy),
            compile_checks(changed, previous=checks),
        )
    )
    settings = Settings()
    wanted = router_topics(settings, policy)
    shares = [t for t in wanted if naming.parse_share_topic(t) is not None]
    # Besides the router's topics (raw per connector, dead letters, subscribers, entitlements),
    # each connector's Debezium makes its heartbeat and notification topics and the bus heartbeat
    # table's topic, `SHAREBUS_KAFKA_PARTITIONS` each.
    connectors = {r.source.connector for r in catalog.resources}
    per_connector = 3 * settings.kafka_partitions
    partitions = sum(p for p, _ in wanted.values()) + per_connector * len(connectors)
    per_table_raw = (len(catalog.resources) - len(connectors)) * settings.kafka_partitions
    by_subscriber: dict[str, list[str]] = {}
    for ent in entitled:
        by_subscriber.setdefault(ent.subscriber, []).append(ent.topic)
    subscriber_acls = len(desired_grants(settings, by_subscriber)) - len(service_grants(settings))
    return {
        "resources": len(catalog.resources),
        "load_s": load_s,
        "compile_s": compile_s,
        "checks_s": checks_s,
        "publish_s": publish_s,  # one demand revoked: the policy and checks recompiled incrementally
        "entitlements_s": ent_s,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "topics": len(shares),  # one partition each: share.<subscriber>.<department>
        "partitions": partitions,  # every topic the bus makes, partitions summed
        "table_raw_partitions": partitions + per_table_raw,  # the same with a raw topic per table
        "acl_bindings": subscriber_acls,  # per subscriber: READ + DESCRIBE on its prefix, its groups
        "legacy_topics": len(entitled),  # the per-resource layout: one topic per entitlement
        "legacy_acl_bindings": 2 * len(entitled),  # READ + DESCRIBE, literal, per topic
    }


def measured(directory: Path) -> dict[str, float]:
    """`measure` in a fresh process: its peak RSS is that catalog's alone."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, directory).result()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, nargs="+", default=[4154, 20000])
    parser.add_argument(
        "--routing", type=int, default=4154, help="resources of the catalog routed in process (0: skip)"
    )
    parser.add_argument(
        "--bus",
        type=int,
        default=300_000,
        help="records routed over Kafka by a worker with the --routing catalog (0: skip the bus figures)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sharebus-scale-"))
    rows = [("sample", measured(SAMPLE_CITY))]
    for n in args.resources:
        scale = Scale(resources=n)
        written, gen_s = timed(lambda s=scale, n=n: write(s, work / str(n) / "chongqing"))
        log(f"generated {written.resources:,} resources, {written.demands:,} demands in {gen_s:.1f} s")
        rows.append((f"{n:,}", measured(written.directory)))
    base = rows[0][1]
    log("")
    log("policy at scale (2 cores; each catalog measured in a fresh process: peak RSS)")
    log(
        f"  {'catalog':<8} {'resources':>9} {'load+validate':>14} {'compile':>9} {'checks':>8}"
        f" {'publish':>8} {'entitlements':>12} {'RSS MiB':>8} {'topics':>7} {'ACLs':>5}"
        f" {'per-resource topics/ACLs':>25} {'partitions (raw per table)':>27} {'load+compile vs sample':>23}"
    )
    for name, r in rows:
        ratio = (r["load_s"] + r["compile_s"]) / (base["load_s"] + base["compile_s"])
        log(
            f"  {name:<8} {r['resources']:>9,.0f} {r['load_s']:>13.2f}s {r['compile_s']:>8.2f}s"
            f" {r['checks_s']:>7.2f}s {r['publish_s']:>7.2f}s {r['entitlements_s']:>11.2f}s"
            f" {r['rss_mib']:>8.0f} {r['topics']:>7,.0f} {r['acl_bindings']:>5,.0f}"
            f" {r['legacy_topics']:>14,.0f}/{r['legacy_acl_bindings']:<10,.0f}"
            f" {r['partitions']:>12,.0f} ({r['table_raw_partitions']:>10,.0f}) {ratio:>22,.0f}×"
        )
    log("  publish = the policy and checks recompiled after one demand is revoked (what a worker does)")
    log(
        "  partitions = every topic the bus and Debezium make for the catalog (raw topics one per"
        " connector); in brackets, with a raw topic per captured table as before"
    )
    log("  targets (scale issue): load+validate+compile ≤ 2 s; ≤ 5,000 partitions at 4,154 resources")
    if args.routing:
        directory = work / str(args.routing) / "chongqing"
        if not directory.exists():
            write(Scale(resources=args.routing), directory)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            figures = pool.submit(routing_figures, directory).result()
        log("")
        log(f"routing in process (batch step, no Kafka) with the {args.routing:,}-resource catalog loaded")
        for line in figures:
            log(f"  {line}")
        if args.bus:
            from confluent_kafka import KafkaException

            from bench.scale.bus import bus_figures
            from sharebus.core.kafka_clients import admin_client, kafka_config

            settings = Settings()
            log("")
            log(
                f"the bus on the running stack ({settings.kafka_bootstrap})"
                f" with the {args.routing:,}-resource catalog"
            )
            try:
                admin_client(kafka_config(settings)).list_topics(timeout=5)
            except KafkaException as exc:
                log(
                    f"  not measured: no Kafka at {settings.kafka_bootstrap} ({exc}); run `sharebus stack up`"
                )
                return
            for line in bus_figures(settings, directory, args.bus, work, log):
                log(f"  {line}")


def routing_figures(directory: Path) -> list[str]:
    """The batch step over ≥ 1,000 resources against one resource; the pause of a publish."""
    from bench.scale.routing import encoders, rate, records, swap_pause
    from streams.router.batch import BatchRouter

    catalog = load_catalog(directory)
    policy = compile_policy(catalog, pseudonym_key=BENCH_KEY)
    router = BatchRouter(policy, compile_checks(catalog), encoders(policy))
    now = datetime.now(UTC)
    spread = rate(router, records(catalog, 1000, 40_000), now)
    single = rate(router, records(catalog, 1, 40_000), now)
    pause = swap_pause(directory, BENCH_KEY, records(catalog, 1000, 20_000))
    return [
        f"1,000 resources: {spread.records_per_s:,.0f} records/s ({spread.messages_per_record:.2f} deliveries"
        f" per record); one resource: {single.records_per_s:,.0f} records/s; ratio"
        f" {spread.records_per_s / single.records_per_s:.2f}",
        f"a publish (one demand revoked) parsed, validated, compiled and swapped in {pause.compile_s:.2f}s"
        " beside routing:"
        f" longest batch {pause.batch_ms_max_during_publish:.0f} ms against a median of"
        f" {pause.batch_ms_median:.0f} ms ({2000} records; the batch window is 100 ms)",
    ]


if __name__ == "__main__":
    main()
