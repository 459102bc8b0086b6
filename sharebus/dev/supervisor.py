"""`sharebus run`'s children kept running as systemd would: an exit is reported once, with the last
lines of the child's log, and the child is restarted with back-off."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sharebus.core.errors import SharebusError
from sharebus.core.process import tail
from sharebus.core.progress import Echo

BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds before restart number 1, 2, …; the last repeats."""
STABLE_AFTER = 120.0
"""A child that ran this long before exiting starts its back-off afresh."""


class Child(Protocol):
    name: str
    log_path: Path

    def start(self) -> None: ...

    def alive(self) -> bool: ...

    def exit_code(self) -> int | None: ...

    def stop(self) -> int | None: ...


class ChildProcess:
    """A `sharebus …` child whose output goes to a log file; stopped with SIGTERM."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.args, self.env, self.log_path = name, args, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sharebus", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.exit_code()


@dataclass
class _Watched:
    child: Child
    started: float = 0.0
    restarts: int = 0  # in a row, without a stable run between
    due: float | None = None  # when to start it again


@dataclass
class Supervisor:
    """Watches `children` from a thread; `stop()` stops the thread, then every child."""

    children: Sequence[Child]
    echo: Echo
    backoff: Sequence[float] = BACKOFF
    stable_after: float = STABLE_AFTER
    every: float = 0.5
    restarts: int = 0  # in all, for the progress line and tests
    _watched: list[_Watched] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start every child not running yet (in order; one started already is adopted), then
        watch them."""
        now = time.monotonic()
        for child in self.children:
            if not child.alive():
                child.start()
            self._watched.append(_Watched(child, now))
        self._thread = threading.Thread(target=self._run, name="sharebus-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, int | None]:
        """Stop watching, then stop the children (last started first); their exit codes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)
        return {w.child.name: w.child.stop() for w in reversed(self._watched)}

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for watched in self._watched:
                self._tend(watched)

    def _tend(self, w: _Watched) -> None:
        now = time.monotonic()
        if w.due is None:
            if w.child.alive():
                return
            if now - w.started >= self.stable_after:
                w.restarts = 0
            pause = self.backoff[min(w.restarts, len(self.backoff) - 1)]
            w.due = now + pause
            last = tail(w.child.log_path, 8).rstrip()
            self.echo(
                f"  ! {w.child.name} exited with code {w.child.exit_code()}; restarting in {pause:g} s"
                f" (log: {w.child.log_path})" + ("\n" + _indent(last) if last else "")
            )
            return
        if now < w.due or self._stop.is_set():
            return
        w.due, w.started = None, time.monotonic()
        w.restarts += 1
        self.restarts += 1
        try:
            w.child.start()
        except SharebusError as exc:  # it died while starting: the next round backs off further
            self.echo(f"  ! {w.child.name} did not start: {exc.problem}")
            return
        self.echo(f"  {w.child.name} restarted (restart {w.restarts} in a row)")


def _indent(text: str) -> str:
    return "\n".join(f"    | {line}" for line in text.splitlines())
