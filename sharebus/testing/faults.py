"""Faults for tests and the soak: a local-stack component killed (SIGKILL, as a crash looks),
stopped or started again, each step timed."""

from __future__ import annotations

import os
import signal
import time

from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.manager import LocalStack
from sharebus.testing.waiting import wait_until


def component(settings: Settings, name: str) -> Component:
    """The running local-stack component `name` (kafka, connect, postgres, …)."""
    comp = LocalStack(settings).component(name)
    if comp.running_pid() is None:
        raise ConfigError(
            f"component {name}",
            "is not a running process of the local stack",
            fix="faults are injected into the local stack only (`sharebus stack up`), not containers",
        )
    return comp


def kill(settings: Settings, name: str) -> float:
    """SIGKILL the component; returns the monotonic time it was gone."""
    comp = component(settings, name)
    pid = comp.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: comp.running_pid() is None, 30, f"{name} (pid {pid}) to die")
    return time.monotonic()


def stop(settings: Settings, name: str) -> float:
    """Stop the component the way an operator restarting it would; when it was gone."""
    component(settings, name).stop()
    return time.monotonic()


def start(settings: Settings, name: str) -> float:
    """Start the component again and wait until it is healthy; returns the monotonic time then."""
    LocalStack(settings).component(name).start(lambda line: print(f"[{name}] {line}", flush=True))
    return time.monotonic()
