"""Waiting for a condition in tests and benchmarks: bounded, with a message naming what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not hold within its tolerance (an assertion failure in a test)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.2,
    last: Callable[[], object] | None = None,
) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy, and return
    that; after `timeout` seconds raise `WaitTimeout` naming `what` (and `last()`, when given, as
    the state it was last seen in). An exception from `predicate` is not retried: it propagates."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            seen = f"; last seen: {last()!r}" if last is not None else ""
            raise WaitTimeout(f"waited {timeout:g} s for {what}{seen}")
        time.sleep(interval)
