"""Routing at the city's size, in process (no Kafka): the router's batch step (decode, checks,
policy, Avro, headers) over records spread across ≥ 1,000 resources of a seeds-scale catalog,
against the same step over one resource; and the longest batch while a new policy version is
compiled and swapped in beside the routing thread (what a publish costs the routing)."""

from __future__ import annotations

import gc
import random
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from schemas.encoder import Encoder, SchemaBook
from sharebus.catalog.load import read_catalog_dir
from sharebus.catalog.models import Catalog, DemandStatus, Sharing
from sharebus.core.gcpause import collections_deferred
from sharebus.core.pacing import beside_routing
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.builders import as_debezium_json, debezium_bytes
from sharebus.testing.registry import IdRegistry
from streams.policy.compiled import Policy, compile_policy
from streams.quality import compile_checks
from streams.router.batch import BatchRouter, EncoderFor
from streams.router.live_catalog import catalog_from
from streams.router.records import RawRecord

BATCH = 2000


_REGISTRY = IdRegistry()  # the bench measures routing, not HTTP
_SHARED: dict[tuple[str, int], Encoder] = {}


def encoders(policy: Policy) -> EncoderFor:
    """As the worker's `avro_encoders`: one book per policy version, encoders shared across them."""
    book = SchemaBook(_REGISTRY, policy, _SHARED)  # type: ignore[arg-type]

    def encoder_for(subscriber: str, resource: str, demand_id: str) -> Encoder:
        return book.encoder_for(subscriber, resource, demand_id)

    return encoder_for


def records(catalog: Catalog, resources: int, n: int, seed: int = 7) -> list[RawRecord]:
    """`n` inserts spread over `resources` shared resources (round-robin), sample enterprise rows."""
    shared = [r for r in catalog.resources if r.sharing is not Sharing.NOT_SHARED][:resources]
    rows = RowFactory.for_settings(Settings(), seed=seed)
    rng = random.Random(seed)
    out: list[RawRecord] = []
    for i in range(n):
        res = shared[i % len(shared)]
        row = as_debezium_json(rows.enterprise())
        schema, _, table = res.source.table.partition(".")
        value = debezium_bytes(
            "c",
            None,
            row,
            table=table,
            department=res.department,
            schema=schema,
            lsn=i,
            ts_ms=1_700_000_000_000,
        )
        key = b'{"uscc":"' + row["uscc"].encode() + b'"}'
        topic = res.source.raw_topic
        out.append(RawRecord(topic, rng.randrange(3), i, key, value, 0))
    return out


def batches(items: list[RawRecord]) -> Iterator[list[RawRecord]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


@dataclass
class Rate:
    records_per_s: float
    messages_per_record: float


def rate(router: BatchRouter, items: list[RawRecord], now: datetime, warm: int = 3) -> Rate:
    """Records per second of the batch step in steady state: `warm` passes over the same records
    first make each target's plan, lane and generated writer, and let the interpreter specialise
    them, as in a worker that has run a while."""
    for _ in range(warm):
        for batch in batches(items):
            router.route_batch(batch, now)
    started, messages = time.perf_counter(), 0
    for batch in batches(items):
        messages += len(router.route_batch(batch, now).messages)
    took = time.perf_counter() - started
    return Rate(len(items) / took, messages / len(items))


@dataclass
class SwapPause:
    batch_ms_median: float
    batch_ms_max_during_publish: float
    compile_s: float


def swap_pause(directory: Path, key: bytes, items: list[RawRecord]) -> SwapPause:
    """Route batches in one thread while another does what a worker does with a published version
    (one demand revoked): parse and validate its texts, compile it against the policy in force,
    swap it in. The longest batch meanwhile, against the median batch."""
    texts = read_catalog_dir(directory)
    catalog = catalog_from(texts, str(directory), apart=True)
    policy = compile_policy(catalog, pseudonym_key=key)
    router = BatchRouter(policy, compile_checks(catalog), encoders(policy))
    now = datetime.now(UTC)
    rate(router, items[: BATCH * 2], now)  # warm
    durations: list[float] = []
    publishing = threading.Event()
    during: list[float] = []
    stop = threading.Event()

    def route() -> None:
        while not stop.is_set():
            for batch in batches(items):
                t0 = time.perf_counter()
                router.route_batch(batch, now)
                took = time.perf_counter() - t0
                (during if publishing.is_set() else durations).append(took)
                if stop.is_set():
                    return

    first = next(
        d for d in catalog.demands if d.status is DemandStatus.APPROVED and d.subscriber != "all-districts"
    )
    demands = texts.demands or ""
    at = demands.index("status: approved", demands.index(f"id: {first.id}"))
    revoked = replace(
        texts, demands=demands[:at] + "status: revoked" + demands[at + len("status: approved") :]
    )
    gc.collect()
    gc.freeze()  # as the worker does once started
    thread = threading.Thread(target=route)
    thread.start()
    time.sleep(1.0)
    publishing.set()
    t0 = time.perf_counter()
    with collections_deferred(), beside_routing():  # as the worker does
        changed = catalog_from(revoked, "the published version", apart=True)
        new = compile_policy(changed, pseudonym_key=key, previous=policy)
        router.swap(new, compile_checks(changed, previous=router.checks), encoders(new))
    compile_s = time.perf_counter() - t0
    time.sleep(0.5)
    publishing.clear()
    time.sleep(0.5)
    stop.set()
    thread.join()
    return SwapPause(1000 * statistics.median(durations), 1000 * max(during, default=0.0), compile_s)
