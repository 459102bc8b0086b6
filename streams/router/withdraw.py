"""Withdrawal: a resource a subscriber no longer receives (revoked, expired) is tombstoned, key by
key, in the subscriber's topic — and what the workers enforced is recorded, so a restart misses none."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from schemas.keys import key_prefix
from sharebus.catalog.endings import ending, states_at
from sharebus.catalog.workflow import DemandState
from sharebus.core import naming
from sharebus.core.audit import DATA_DESTROY, AuditEvent, event
from sharebus.core.kafka_clients import DOCUMENT_PRODUCER, Role, read_to_end
from sharebus.core.outage import KafkaWatch
from sharebus.core.settings import Settings
from streams.policy.compiled import Policy
from streams.router.config import RouterConfig
from streams.router.delivery import PRODUCER, DeliveryError

log = logging.getLogger("sharebus.router")

Pair = tuple[str, str]
"""(subscriber, resource)."""
Headers = list[tuple[str, str | bytes | None]]
READ_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Destroyed:
    """One subscriber's copy of one resource destroyed (销毁): the tombstones written for its live
    keys in `topic`, why its access ended (`sharebus.catalog.endings`), under which policy."""

    subscriber: str
    resource: str
    topic: str
    tombstones: int
    reason: str
    demands: tuple[str, ...]
    catalog_version: str
    at: datetime


def destruction_events(settings: Settings, done: Iterable[Destroyed]) -> list[AuditEvent]:
    """The `data.destroy` audit records of a withdrawal, written as the router."""
    return [
        event(
            settings,
            DATA_DESTROY,
            d.subscriber,
            d.resource,
            catalog_version=d.catalog_version,
            role=Role.ROUTER,
            count=d.tombstones,
            at=d.at,
            detail={
                "topic": d.topic,
                "reason": d.reason,
                "demands": list(d.demands),
                "tombstones": d.tombstones,
                "router": settings.router_id,
            },
        )
        for d in done
    ]


def in_force(policy: Policy, now: datetime) -> frozenset[Pair]:
    """Every (subscriber, resource) the policy delivers at `now`."""
    return frozenset((e.subscriber, e.resource) for e in policy.entitlements(now))


def next_change(policy: Policy, now: datetime) -> datetime | None:
    """The first demand validity boundary after `now` (when `in_force` may change by itself)."""
    later = [b for r in policy.resources.values() for b in r.boundaries if b > now]
    return min(later, default=None)


def encode_pairs(pairs: Iterable[Pair]) -> bytes:
    """`{resource: [subscriber, …]}` (compact: 100,000 pairs of the city are ~0.8 MB)."""
    by_resource: dict[str, list[str]] = defaultdict(list)
    for subscriber, resource in sorted(pairs):
        by_resource[resource].append(subscriber)
    return orjson.dumps(by_resource, option=orjson.OPT_SORT_KEYS)


def decode_pairs(raw: bytes) -> frozenset[Pair]:
    data = orjson.loads(raw)
    return frozenset((s, r) for r, subscribers in data.items() for s in subscribers)


def by_topic(pairs: Iterable[Pair], department_of: Callable[[str], str]) -> dict[Pair, set[str]]:
    """Withdrawn pairs grouped as (subscriber, its topic) → resources to tombstone there."""
    out: dict[Pair, set[str]] = defaultdict(set)
    for subscriber, resource in pairs:
        out[subscriber, naming.share_topic(subscriber, department_of(resource))].add(resource)
    return dict(out)


class Withdrawer:
    """Reads a subscriber topic to its end and tombstones the live keys of withdrawn resources."""

    def __init__(self, config: RouterConfig, watch: KafkaWatch) -> None:
        self.config = config
        self.watch = watch
        self.consumer = Consumer(
            config.kafka.consumer(
                {
                    "group.id": naming.WITHDRAW_READER_GROUP,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    **watch.client_config(),
                }
            )
        )
        self.producer = Producer(
            config.kafka.producer({**PRODUCER, **DOCUMENT_PRODUCER, **watch.producer_config(READ_TIMEOUT)})
        )
        self.record_topic = naming.entitlements_topic(config.catalog_topic)

    def close(self) -> None:
        self.consumer.close()
        self.producer.flush(30)

    def tombstone(self, topic: str, resources: set[str], version: str) -> Counter[str]:
        """Tombstone every live key of `resources` in `topic`; how many, per resource."""
        prefixes = tuple(key_prefix(r) for r in resources)
        live: dict[bytes, bool] = {}
        for key, value in self._read(topic):
            if key is not None and key.startswith(prefixes):
                live[key] = value is not None
        n: Counter[str] = Counter()
        for key, alive in live.items():
            if alive:
                resource = next(r for r, p in zip(resources, prefixes, strict=True) if key.startswith(p))
                headers: Headers = [
                    (naming.H_OP, naming.OP_WITHDRAW.encode()),
                    (naming.H_SHARE_RESOURCE, resource.encode()),
                    (naming.H_POLICY, version.encode()),
                ]
                self._produce(topic, None, key, headers)
                n[resource] += 1
        self._flush(f"tombstones of {', '.join(sorted(resources))} on {topic}")
        return n

    def recorded(self) -> frozenset[Pair] | None:
        """What the workers last enforced for this city (None: nothing recorded yet)."""
        city, found = self.config.city.encode(), None
        for key, value in self._read(self.record_topic):
            if key == city:
                found = decode_pairs(value) if value is not None else None
        return found

    def record(self, pairs: frozenset[Pair]) -> None:
        self._produce(self.record_topic, encode_pairs(pairs), self.config.city.encode(), [])
        self._flush(f"the record of enforced entitlements on {self.record_topic}")

    def _read(self, topic: str) -> Iterable[tuple[bytes | None, bytes | None]]:
        try:
            for msg in read_to_end(
                self.consumer, topic, READ_TIMEOUT, call=self.watch.call, on_error=self._failed
            ):
                yield msg.key(), msg.value()
        except TimeoutError as exc:
            raise DeliveryError(
                f"withdrawal reading {topic}",
                "did not reach the end of the topic",
                actual=str(exc),
                fix="check the broker (`sharebus ops status`); the worker restarts the withdrawal",
            ) from None

    def _failed(self, error: KafkaError) -> None:
        self.watch.failed(KafkaException(error))
        self.watch.check()

    def _produce(self, topic: str, value: bytes | None, key: bytes, headers: Headers) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _flush(self, what: str) -> None:
        remaining = self.watch.flush(self.producer, READ_TIMEOUT)
        if remaining:
            raise DeliveryError(
                what,
                f"{remaining} not acknowledged by Kafka within {READ_TIMEOUT:.0f}s",
                fix="check the broker; the worker stops and redoes the withdrawal when it restarts",
            )


class WithdrawalLoop:
    """Watches what the policy in force delivers (after each swap and at each validity boundary);
    a pair that left is withdrawn once every batch routed under the previous state is delivered
    (`barrier`), then the new state is recorded. At start it compares with the record."""

    def __init__(
        self,
        config: RouterConfig,
        watch: KafkaWatch,
        policy: Callable[[], Policy],
        barrier: Callable[[], None],
        fatal: Callable[[BaseException], None],
        destroyed: Callable[[Sequence[Destroyed]], None] = lambda _done: None,
    ) -> None:
        self.config = config
        self.destroyed = destroyed  # told (audit) once the tombstones are acknowledged
        self.watch = watch
        self.policy = policy
        self.barrier = barrier
        self.fatal = fatal
        self.withdrawn = 0  # tombstones written (for the tests and the log)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sharebus-withdraw", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """A new policy is in force."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        withdrawer = Withdrawer(self.config, self.watch)
        try:
            enforced = self.watch.call(withdrawer.recorded)
            seen: Policy | None = None
            until: datetime | None = None
            states: dict[str, DemandState] | None = None  # the demands' states at the last look
            while not self._stop.is_set():
                policy, now = self.policy(), datetime.now(UTC)
                if policy is not seen or (until is not None and now >= until):
                    self.barrier()  # batches routed under the previous state are delivered
                    after = in_force(policy, now)
                    gone = enforced - after if enforced is not None else frozenset()
                    if gone:
                        self._withdraw(withdrawer, gone, policy, now, states)
                    if after != enforced:
                        withdrawer.record(after)
                    enforced, seen, until = after, policy, next_change(policy, now)
                    states = states_at(policy.catalog, now)
                wait = 1.0 if until is None else max(0.0, min(1.0, (until - now).total_seconds()))
                self._wake.wait(wait)
                self._wake.clear()
        except BaseException as exc:
            log.error("withdrawal failed: %s", exc)
            self.fatal(exc)
        finally:
            withdrawer.close()

    def _withdraw(
        self,
        withdrawer: Withdrawer,
        gone: frozenset[Pair],
        policy: Policy,
        now: datetime,
        before: dict[str, DemandState] | None,
    ) -> None:
        started = time.monotonic()
        catalog = policy.catalog
        departments = {r.id: r.department for r in catalog.resources}
        done: list[Destroyed] = []
        grouped = by_topic(gone, lambda r: departments.get(r, r.split(".")[0]))
        for (subscriber, topic), resources in sorted(grouped.items()):
            counts = withdrawer.tombstone(topic, resources, policy.version)
            for resource in sorted(resources):
                why = ending(catalog, subscriber, resource, now, before)
                done.append(
                    Destroyed(
                        subscriber,
                        resource,
                        topic,
                        counts[resource],
                        why.reason,
                        why.demands,
                        policy.version,
                        now,
                    )
                )
        self.destroyed(done)
        n = sum(d.tombstones for d in done)
        self.withdrawn += n
        log.info(
            "withdrew %d pair(s) (subscriber, resource): %d tombstones in %.1fs",
            len(gone),
            n,
            time.monotonic() - started,
        )
