"""Checkpoints of the raw-topic loop: what delivered batches counted is persisted off the routing
thread, and their offsets are committed once it is."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

Offsets = dict[tuple[str, int], int]


def merged(*parts: Offsets) -> Offsets:
    """The furthest offset of each partition over `parts`."""
    out: Offsets = {}
    for part in parts:
        for tp, offset in part.items():
            out[tp] = max(offset, out.get(tp, 0))
    return out


class Checkpoints:
    """One checkpoint at a time: `begin` hands `persist` (metric rows, audit events: seconds of a
    metrics store's insert at a city's rate) to a thread of its own, and `ready` gives the offsets
    back once it returned. Routing never waits for it; a crash re-delivers what was routed since the
    last commit, at most two checkpoint intervals."""

    def __init__(self, persist: Callable[[], None]) -> None:
        self.persist = persist
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sharebus-persist")
        self._pending: tuple[Offsets, Future[None]] | None = None

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def begin(self, offsets: Offsets) -> None:
        """Persist what the batches up to `offsets` counted (one checkpoint in flight at a time)."""
        if self._pending is not None:
            raise RuntimeError("a checkpoint is already in flight")
        self._pending = (offsets, self._pool.submit(self.persist))

    def ready(self) -> Offsets:
        """The offsets of the checkpoint in flight once it is persisted ({} while it is not);
        raises what persisting raised (its offsets are then never committed)."""
        if self._pending is None or not self._pending[1].done():
            return {}
        return self._finish()

    def wait(self) -> Offsets:
        """Block until the checkpoint in flight (if any) is persisted; its offsets."""
        return self._finish() if self._pending is not None else {}

    def _finish(self) -> Offsets:
        assert self._pending is not None
        offsets, future = self._pending
        self._pending = None
        future.result()  # persist bounds its own waits (the sink's flush, Kafka's tolerance)
        return offsets

    def close(self) -> None:
        self._pool.shutdown(wait=True)
