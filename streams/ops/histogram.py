"""Latency histograms: log-spaced buckets (≤ 7.5 % error) for percentiles, and the conventional
Prometheus buckets, filled together; weighted samples, mergeable, no per-sample storage."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

FACTOR = 1.15
FIRST_MS = 1.0
FINE_BOUNDS_MS: tuple[float, ...] = tuple(FIRST_MS * FACTOR**k for k in range(110))  # up to ~ 1.5 h
"""Upper bounds (ms) of the fine buckets; one more bucket holds everything above."""

PROMETHEUS_BOUNDS_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
"""Upper bounds (seconds) of the Prometheus histogram buckets (+Inf implied)."""


@dataclass
class LatencyHistogram:
    """Weighted latency samples in milliseconds."""

    fine: list[float] = field(default_factory=lambda: [0.0] * (len(FINE_BOUNDS_MS) + 1))
    coarse: list[float] = field(default_factory=lambda: [0.0] * (len(PROMETHEUS_BOUNDS_S) + 1))
    count: float = 0.0
    total_ms: float = 0.0

    def add(self, latencies_ms: Iterable[float], weight: float = 1.0) -> None:
        fine, coarse = self.fine, self.coarse
        for ms in latencies_ms:
            ms = max(ms, 0.0)
            fine[bisect.bisect_left(FINE_BOUNDS_MS, ms)] += weight
            coarse[bisect.bisect_left(PROMETHEUS_BOUNDS_S, ms / 1000.0)] += weight
            self.count += weight
            self.total_ms += ms * weight

    def merge(self, other: LatencyHistogram) -> None:
        for i, v in enumerate(other.fine):
            self.fine[i] += v
        for i, v in enumerate(other.coarse):
            self.coarse[i] += v
        self.count += other.count
        self.total_ms += other.total_ms

    def quantile(self, q: float) -> float | None:
        """The q-quantile in ms (None when empty): the bucket's geometric middle."""
        if self.count <= 0:
            return None
        rank = q * self.count
        seen = 0.0
        for i, weight in enumerate(self.fine):
            seen += weight
            if weight > 0 and seen >= rank:
                return _middle(i)
        return _middle(len(self.fine) - 1)

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        """Prometheus `le` buckets (seconds) with cumulative counts, +Inf last."""
        out, running = [], 0.0
        for bound, weight in zip((*PROMETHEUS_BOUNDS_S, math.inf), self.coarse, strict=True):
            running += weight
            out.append(("+Inf" if bound == math.inf else repr(bound), running))
        return out


def _middle(index: int) -> float:
    upper = FINE_BOUNDS_MS[index] if index < len(FINE_BOUNDS_MS) else FINE_BOUNDS_MS[-1] * FACTOR
    lower = FINE_BOUNDS_MS[index - 1] if index > 0 else 0.0
    return math.sqrt(lower * upper) if lower > 0 else upper / 2
