"""A `sharebus worker` child process: started with its own settings, watched until ready,
stopped gracefully or killed; used by `sharebus run`, the benchmarks and the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sharebus.core.errors import ComponentError
from sharebus.core.process import tail
from sharebus.core.settings import Settings

READY = "[^Worker]: Ready"


@dataclass
class WorkerProcess:
    """`env` is the child's whole environment (SHAREBUS_* settings included)."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    argv: tuple[str, ...] = (sys.executable, "-m", "sharebus", "worker")
    """The command (a test's worker with other wiring runs its own module)."""
    name: str = "worker"

    @property
    def settings(self) -> Settings:
        prefix = "SHAREBUS_"
        values = {k[len(prefix) :].lower(): v for k, v in self.env.items() if k.startswith(prefix)}
        return Settings(**values)  # type: ignore[arg-type]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 90.0) -> None:
        """Start and wait until the worker has joined its group and is routing."""
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts}\n".encode())
            self.proc = subprocess.Popen(
                list(self.argv),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.read_text(errors="replace").count(READY) >= self.starts:
                return
            if self.proc.poll() is not None:
                raise self.died()
            time.sleep(0.2)
        raise ComponentError(
            self.name,
            f"not ready after {timeout:.0f}s",
            fix=f"read {self.log_path}",
            details=tail(self.log_path, 30),
        )

    def died(self) -> ComponentError:
        code = self.proc.returncode if self.proc is not None else None
        return ComponentError(
            self.name,
            f"exited with code {code}",
            expected="the router running",
            actual=f"exit code {code}",
            fix=f"read the log below (whole log: {self.log_path})",
            details=tail(self.log_path, 30),
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def kill(self) -> None:
        """SIGKILL: no flush, no offset commit — what a crash looks like."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout`); the exit code."""
        if self.proc is None:
            return None
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
