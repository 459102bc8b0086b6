"""Long work beside the routing thread, paced: it gives the interpreter back every few ms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

WORK_SECONDS = 0.002
"""CPU time the paced work runs before it rests."""
REST_SECONDS = 0.004
"""How long it rests: the routing thread has the interpreter meanwhile. Two threads that both
compute share the GIL about evenly, so a publish beside routing made each batch take about
twice as long; paced, the publish takes ~3× longer and the routing thread keeps most of it."""


@dataclass
class _Pace:
    work: float
    rest: float
    since: float  # thread CPU time at the last rest


_PACE: ContextVar[_Pace | None] = ContextVar("sharebus_pace", default=None)


@contextmanager
def beside_routing(work: float = WORK_SECONDS, rest: float = REST_SECONDS) -> Iterator[None]:
    """Within it (this thread), the long loops of a publish (parse, validation, cross-checks,
    compile, version, schemas) rest `rest` s after every `work` s of CPU (`pace`), and long YAML
    lists are parsed a few items per call (`active`)."""
    token = _PACE.set(_Pace(work, rest, time.thread_time()))
    try:
        yield
    finally:
        _PACE.reset(token)


def active() -> bool:
    """Whether this thread's work runs beside the routing thread."""
    return _PACE.get() is not None


def pace() -> None:
    """Rest when this thread has worked its slice (a no-op outside `beside_routing`)."""
    p = _PACE.get()
    if p is None:
        return
    if time.thread_time() - p.since >= p.work:
        time.sleep(p.rest)
        p.since = time.thread_time()
