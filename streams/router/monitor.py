"""A Faust Monitor that keeps no per-message statistics: the router measures itself (metrics
rows, Prometheus), and Faust's per-event bookkeeping costs CPU on the hot path."""

from __future__ import annotations

from typing import Any

from faust.sensors import Monitor


class QuietMonitor(Monitor):
    """Per-message and per-event hooks do nothing; rebalance and commit hooks stay Faust's."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None
