"""The ops monitor's memory: the sliding window of samples the status rules judge, five minutes of
end offsets for throughput, the router meter and the last connector sample; sampling never raises
(a failed sample is reported, the previous figures stay)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from sharebus.core.errors import SharebusError
from streams.ops.connector_states import ConnectorSampler, ConnectorsSample
from streams.ops.denials import DenialWatch
from streams.ops.meter import RouterMeter
from streams.ops.model import TP, DeadLetter, Snapshot
from streams.ops.report import SamplerInfo, build_report
from streams.ops.sampler import KafkaSampler
from streams.ops.throughput import WINDOWS, EndSample
from streams.ops.topology import Topology
from streams.ops.watch import Alert, ReadingWatch

log = logging.getLogger("sharebus.ops")

DEFAULT_INTERVAL = 5.0
DEFAULT_WINDOW = 10
DEFAULT_MIN_SAMPLES = 5
RECENT_ALERTS = 50  # security alerts the report lists


class OpsMonitor:
    """Thread-safe: `sample` (blocking, one thread at a time) and `report` (any thread)."""

    def __init__(
        self,
        sampler: KafkaSampler,
        topology: Callable[[], Topology],
        *,
        interval: float = DEFAULT_INTERVAL,
        window: int = DEFAULT_WINDOW,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        meter: RouterMeter | None = None,
        connectors: ConnectorSampler | None = None,
        source: str = "worker",
        note: str | None = None,
        clock: Callable[[], float] = time.time,
        watch: ReadingWatch | None = None,
        denials: DenialWatch | None = None,
        on_alert: Callable[[Alert], None] = lambda alert: None,
        demands: Callable[[], dict[str, Any]] | None = None,
        quality: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.sampler = sampler
        self.demands = demands  # the demands panel (pending, expiring), from the policy in force
        self.quality = quality  # the quality panel (None until the worker's first quality round)
        self.topology = topology
        self.interval = interval
        self.min_samples = min_samples
        self.meter = meter
        self.connector_sampler = connectors
        self.source = source
        self.note = note
        self.clock = clock
        self.window: deque[Snapshot] = deque(maxlen=window)
        self.history: deque[EndSample] = deque(maxlen=int(WINDOWS["5m"] / interval) + 2)
        self.connectors: ConnectorsSample | None = None
        self.dead_letters: dict[TP, list[DeadLetter]] = {}
        self.error: str | None = None
        self.samples = 0
        self.cpu_seconds = 0.0
        self._lock = threading.Lock()
        self._last_topology: Topology | None = None
        self.watch = watch
        self.denials = denials
        self.on_alert = on_alert
        self.alerts: deque[Alert] = deque(maxlen=RECENT_ALERTS)
        self.alert_counts: Counter[str] = Counter()

    def sample(self) -> Snapshot | None:
        """Take one sample; on failure keep the figures and remember the error."""
        try:
            topology = self.topology()
            snap = self.sampler.sample(topology)
        except SharebusError as exc:
            self._failed(f"{exc.subject}: {exc.problem}")
            return None
        except Exception as exc:  # the monitor must never take the router down
            log.exception("ops sample failed")
            self._failed(f"{type(exc).__name__}: {exc}")
            return None
        ends: dict[str, int] = {}
        for (topic, _), end in snap.ends.items():
            ends[topic] = ends.get(topic, 0) + end
        dead = self.sampler.dead_letters()
        with self._lock:
            if self._last_topology is not None and self._last_topology.version != topology.version:
                self.window.clear()  # another catalog: other topics, other groups
            self._last_topology = topology
            self.window.append(snap)
            self.history.append(EndSample(snap.at, ends))
            self.dead_letters = dead
            self.samples += 1
            self.cpu_seconds += self.sampler.last_cpu
            self.error = None
        self._watch(snap, topology)
        return snap

    def _watch(self, snap: Snapshot, topology: Topology) -> None:
        """Security monitoring of the sample; its alerts are kept, counted and handed on."""
        alerts: list[Alert] = []
        try:
            if self.watch is not None:
                alerts += self.watch.observe(snap, topology)
            if self.denials is not None:
                alerts += self.denials.poll(snap.at)
        except Exception:  # never take the router down
            log.exception("security watch failed")
            return
        with self._lock:
            self.alerts.extend(alerts)
            self.alert_counts.update(a.kind for a in alerts)
        for alert in alerts:
            self.on_alert(alert)

    @property
    def current_topology(self) -> Topology | None:
        """The topology of the newest sample (None before the first)."""
        return self._last_topology

    def sample_connectors(self) -> None:
        if self.connector_sampler is None:
            return
        try:
            result = self.connector_sampler.sample()
        except Exception as exc:  # never take the router down
            log.exception("connector sample failed")
            result = ConnectorsSample(self.clock(), (), f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.connectors = result

    def _failed(self, message: str) -> None:
        if message != self.error:
            log.warning("ops sample failed: %s", message)
        with self._lock:
            self.error = message

    def report(self, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        with self._lock:
            window = list(self.window)
            history = list(self.history)
            topology = self._last_topology
            connectors = self.connectors
            dead = self.dead_letters
            security = {
                "alerts": [a.to_dict() for a in self.alerts],
                "counts": dict(sorted(self.alert_counts.items())),
            }
            info = SamplerInfo(
                self.source,
                self.interval,
                self.window.maxlen or 0,
                self.min_samples,
                self.samples,
                self.error,
                self.note,
                round(self.sampler.last_cpu * 1000, 2) if self.samples else None,
            )
        if topology is None:
            try:
                topology = self.topology()
            except Exception as exc:
                raise SharebusError(
                    "ops monitor",
                    f"has no catalog to report on: {exc}",
                    fix="wait for the worker to load its catalog",
                ) from None
        report = build_report(
            topology=topology,
            window=window,
            history=history,
            info=info,
            dead_letters=dead,
            meter=self.meter,
            connectors=connectors,
            now=now,
        )
        report["security"] = security
        if self.demands is not None:
            report["demands"] = self.demands()
        if self.quality is not None:
            report["quality"] = self.quality()
        return report

    def close(self) -> None:
        self.sampler.close()
