"""Records per second of topics over sliding windows (1 and 5 minutes), from the history of their
end offsets: pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WINDOWS = {"1m": 60.0, "5m": 300.0}
"""The throughput windows reported, by label."""


@dataclass(frozen=True, slots=True)
class EndSample:
    """Per topic, the sum of its partitions' end offsets at one moment (epoch seconds)."""

    at: float
    ends: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    span: float  # seconds actually covered (less than the window while history is short)

    def to_dict(self) -> dict[str, float]:
        return {"per_s": round(self.per_second, 2), "span_s": round(self.span, 1)}


def rates(history: Sequence[EndSample], window: float, *, min_span: float = 1.0) -> dict[str, Rate]:
    """Records/s of each topic of the newest sample over the last `window` seconds: the newest
    end minus the oldest end within the window, over the time between them. A topic seen first
    inside the window counts from its first sample; one sampled only once has no rate."""
    if len(history) < 2:
        return {}
    newest = history[-1]
    oldest_allowed = newest.at - window * 1.001  # a sample exactly one window old still counts
    first_seen: dict[str, tuple[float, int]] = {}
    for sample in history:
        if sample.at < oldest_allowed:
            continue
        for topic, end in sample.ends.items():
            first_seen.setdefault(topic, (sample.at, end))
    out: dict[str, Rate] = {}
    for topic, end in newest.ends.items():
        seen = first_seen.get(topic)
        if seen is None:
            continue
        span = newest.at - seen[0]
        if span >= min_span:
            out[topic] = Rate(max(end - seen[1], 0) / span, span)
    return out


def window_rates(history: Sequence[EndSample]) -> dict[str, dict[str, Rate]]:
    """{'1m': {topic: Rate}, '5m': {…}}."""
    return {label: rates(history, seconds) for label, seconds in WINDOWS.items()}
