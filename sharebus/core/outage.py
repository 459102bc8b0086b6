"""Riding out a Kafka outage: how long the cluster has been unreachable, waited out up to a tolerance.

librdkafka reconnects on its own; what a component must decide is how long to wait. A
`KafkaWatch` is shared by a component's clients: their `error_cb` and failed calls *suspect* an
outage, a probe thread confirms it (or clears it: an idle connection closed by the broker is not
an outage) and watches for the cluster's return, and the component's loops call `check()`, which
raises one `UnreachableError` — naming the broker, how long, and the setting — once the outage
has outlasted SHAREBUS_KAFKA_OUTAGE_TOLERANCE. Nothing else about an outage is an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from sharebus.core.errors import UnreachableError
from sharebus.core.kafka_clients import admin_client

log = logging.getLogger("sharebus.kafka")

SETTING = "SHAREBUS_KAFKA_OUTAGE_TOLERANCE"

T = TypeVar("T")


class Flushable(Protocol):
    """A producer, or several: `flush` waits up to `timeout` s and returns what is still queued."""

    def flush(self, timeout: float) -> int: ...


# Errors of a call that mean "the cluster (or its coordinator, a leader) is not there right now".
TRANSIENT = frozenset(
    {
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NOT_COORDINATOR,
    }
)


def transient(failure: BaseException | KafkaError) -> bool:
    """Whether a failed Kafka call (or a client's error) is worth retrying once the cluster is back."""
    err = failure if isinstance(failure, KafkaError) else None
    if isinstance(failure, KafkaException) and failure.args:
        err = failure.args[0]
    return isinstance(err, KafkaError) and (err.code() in TRANSIENT or bool(err.retriable()))


def describe(seconds: float) -> str:
    """`45 s`, `5 min`, `1 h 30 min`: a duration as a person reads it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class KafkaWatch:
    """One component's view of whether Kafka is reachable (thread-safe)."""

    def __init__(
        self,
        conf: Mapping[str, object],
        tolerance: float,
        *,
        component: str,
        probe_every: float = 1.0,
        probe: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conf = conf
        self.bootstrap = str(conf.get("bootstrap.servers", "?"))
        self.tolerance = tolerance
        self.component = component
        self.probe_every = probe_every
        self.clock = clock
        self._probe_call = probe or self._describe_cluster
        self._lock = threading.Lock()
        self._since: float | None = None  # an outage is suspected since then
        self._confirmed = False
        self._problem = ""
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin: AdminClient | None = None
        self.outages = 0  # confirmed outages that ended
        self.back_at: float | None = None  # when the last suspected outage ended (`clock`)

    # --- what the clients report -----------------------------------------------------------
    def client_config(self) -> dict[str, object]:
        """Properties to add to each client of the component: its errors feed this watch."""
        return {"error_cb": self.on_error}

    def producer_config(self, timeout: float) -> dict[str, object]:
        """A producer's part: its errors feed this watch, and librdkafka does not give up on a
        message while the component still waits out an outage (then `timeout` more seconds)."""
        return {"message.timeout.ms": int((self.tolerance + timeout) * 1000), **self.client_config()}

    def on_error(self, err: KafkaError) -> None:
        """librdkafka's error_cb: every broker down is a suspected outage; others are logged."""
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.suspect(err.str())
        else:
            log.debug("%s: Kafka client error %s", self.component, err)

    def suspect(self, problem: str) -> None:
        """Something failed to reach Kafka: start the outage clock (if it is not running) and probe."""
        with self._lock:
            if self._since is None:
                self._since = self.clock()
            self._problem = problem
        self._ensure_prober()
        self._wake.set()

    def failed(self, exc: BaseException) -> None:
        """A call failed: a transient failure is a suspected outage, anything else is raised."""
        if not transient(exc):
            raise exc
        err = exc.args[0]
        self.suspect(f"{err.name()}: {err.str()}" if isinstance(err, KafkaError) else str(exc))

    def reachable(self) -> None:
        """Kafka answered: the outage (if any) is over."""
        with self._lock:
            since, confirmed = self._since, self._confirmed
            self._since, self._confirmed = None, False
            if since is not None:
                self.back_at = self.clock()
            if since is not None and confirmed:
                self.outages += 1
        if since is not None and confirmed:
            log.warning(
                "%s: Kafka at %s is reachable again after %s",
                self.component,
                self.bootstrap,
                describe(self.clock() - since),
            )

    # --- what the component asks ------------------------------------------------------------
    @property
    def down_for(self) -> float:
        """Seconds since an outage was confirmed; 0 while Kafka is reachable (or only suspected)."""
        with self._lock:
            if self._since is None or not self._confirmed:
                return 0.0
            return self.clock() - self._since

    @property
    def suspected(self) -> bool:
        """Whether something failed to reach Kafka and no probe has answered since."""
        with self._lock:
            return self._since is not None

    @property
    def unreachable(self) -> bool:
        """Whether an outage is confirmed (a probe failed) and not over."""
        with self._lock:
            return self._since is not None and self._confirmed

    def status(self) -> str | None:
        """`Kafka unreachable for 12 s (tolerance 5 min)`, or None while it is reachable."""
        if not self.unreachable:
            return None
        return f"Kafka unreachable for {describe(self.down_for)} (tolerance {describe(self.tolerance)})"

    def check(self) -> None:
        """Raise the outage's error once it has lasted longer than the tolerance."""
        with self._lock:
            if self._since is None or self.clock() - self._since <= self.tolerance:
                return
        raise self.error()

    def error(self) -> UnreachableError:
        with self._lock:
            since, problem = self._since, self._problem
        lasted = self.clock() - since if since is not None else 0.0
        return UnreachableError(
            f"Kafka at {self.bootstrap}",
            f"unreachable for {describe(lasted)}, longer than {self.component} waits"
            f" ({SETTING}={self.tolerance:g} s)",
            actual=problem or None,
            fix=f"start the broker (`sharebus stack up`), check the bootstrap setting, or raise {SETTING};"
            " nothing was committed past what was delivered, so a restart resumes where this stopped",
        )

    def call(self, fn: Callable[[], T], *, pause: float = 1.0) -> T:
        """`fn()`, retried while it fails for a transient reason, within the tolerance."""
        while True:
            try:
                result = fn()
            except KafkaException as exc:
                self.failed(exc)
                self.check()
                if self._closed.wait(pause):
                    raise
                continue
            self.reachable()
            return result

    def flush(self, producer: Flushable, timeout: float) -> int:
        """Wait for `producer`'s deliveries: an outage is waited out (within the tolerance, then
        `check` raises); while Kafka is reachable they get `timeout` seconds. What remains."""
        waited = 0.0
        while True:
            started = self.clock()
            remaining = int(producer.flush(min(1.0, timeout)))
            if not remaining:
                return 0
            if self.suspected:
                self.check()
                waited = 0.0
                continue
            waited += self.clock() - started
            if waited >= timeout:
                return remaining

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    # --- the prober ---------------------------------------------------------------------------
    def _ensure_prober(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed.is_set():
                return
            self._thread = threading.Thread(
                target=self._probe_loop, name=f"{self.component}-kafka-watch", daemon=True
            )
        self._thread.start()

    def _probe_loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait()
            self._wake.clear()
            while not self._closed.is_set():
                with self._lock:
                    if self._since is None:
                        break
                if self._probe():
                    self.reachable()
                    break
                self._closed.wait(self.probe_every)

    def _describe_cluster(self) -> None:
        """One DescribeCluster round trip (cheap whatever the number of topics)."""
        if self._admin is None:
            self._admin = admin_client(self.conf)
        self._admin.describe_cluster(request_timeout=2).result(timeout=3)

    def _probe(self) -> bool:
        try:
            self._probe_call()
            return True
        except Exception as exc:  # KafkaException, or a future timing out
            with self._lock:
                first = not self._confirmed and self._since is not None
                self._confirmed = self._since is not None
                if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
                    self._problem = f"{exc.args[0].name()}: {exc.args[0].str()}"
            if first and not self._closed.is_set():
                log.warning(
                    "%s: Kafka at %s is unreachable (%s); waiting up to %s (%s) for it to come back",
                    self.component,
                    self.bootstrap,
                    self._problem,
                    describe(self.tolerance),
                    SETTING,
                )
            return False
