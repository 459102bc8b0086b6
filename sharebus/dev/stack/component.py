"""One supervised component of the local stack: start it healthy or fail loudly, report, stop it."""

from __future__ import annotations

import signal
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path

from sharebus.core.errors import ComponentError
from sharebus.core.process import (
    PidRecord,
    died_during_start,
    port_open,
    port_owner,
    read_pid,
    require_port_free,
    tail,
    terminate,
)
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.dev.stack.layout import Layout


@dataclass(frozen=True)
class ComponentStatus:
    """What `sharebus stack status` shows for one component."""

    name: str
    state: str  # running | unhealthy | stopped | dead | foreign
    pid: int | None
    port: int
    endpoint: str
    detail: str

    @property
    def healthy(self) -> bool:
        return self.state == "running"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "healthy": self.healthy}


class Component(ABC):
    """A process the stack starts; subclasses say how to prepare, launch and probe it."""

    name: str
    port_setting: str  # the SHAREBUS_* setting that picks its port
    start_timeout: float = 90.0
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, settings: Settings, layout: Layout) -> None:
        self.settings = settings
        self.layout = layout

    # --- what subclasses provide --------------------------------------------------------------
    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    @abstractmethod
    def endpoint(self) -> str: ...

    @property
    @abstractmethod
    def marker(self) -> str:
        """A string unique to this component's command line (its config or data path)."""

    @abstractmethod
    def prepare(self, echo: Echo) -> None:
        """Write configs and initialise data dirs; idempotent."""

    @abstractmethod
    def launch(self) -> PidRecord:
        """Spawn the process (detached) and record its pid."""

    @abstractmethod
    def probe(self) -> str | None:
        """None when the component answers as it should, else what is wrong."""

    def after_healthy(self, echo: Echo) -> None:  # noqa: B027 - optional hook
        """Idempotent set-up that needs the running component (roles, topics)."""

    # --- supervision ----------------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.layout.log_file(self.name)

    def pid_record(self) -> PidRecord | None:
        record = read_pid(self.layout.pid_file(self.name))
        if record is not None and record.marker != self.marker:
            return None
        return record

    def running_pid(self) -> int | None:
        record = self.pid_record()
        return record.pid if record is not None and record.alive() else None

    def start(self, echo: Echo) -> str:
        """Bring the component up healthy; returns 'started' or 'already running'."""
        if self.running_pid() is not None:
            if self.probe() is None:
                return "already running"
            self._wait_healthy(self.pid_record())
            return "already running"
        require_port_free(self.name, self.port, self.port_setting)
        self.prepare(echo)
        record = self.launch()
        self._wait_healthy(record)
        self.after_healthy(echo)
        return "started"

    def _wait_healthy(self, record: PidRecord | None) -> None:
        deadline = time.monotonic() + self.start_timeout
        problem: str | None = "not probed yet"
        while time.monotonic() < deadline:
            if record is None or not record.alive():
                raise died_during_start(self.name, self.layout.log_file(self.name))
            problem = self.probe()
            if problem is None:
                return
            time.sleep(0.25)
        raise ComponentError(
            self.name,
            f"not healthy after {self.start_timeout:.0f}s",
            expected=f"{self.name} answering at {self.endpoint}",
            actual=problem,
            fix=f"read {self.layout.log_file(self.name)}; `sharebus stack down` then `up` again",
            details=tail(self.layout.log_file(self.name), 15),
        )

    def stop(self) -> bool:
        """Stop the process `up` started (and only that one); True if one was running."""
        record = self.pid_record()
        stopped = False
        if record is not None and record.alive():
            stopped = terminate(record.pid, sig=self.stop_signal)
        self.layout.pid_file(self.name).unlink(missing_ok=True)
        return stopped

    def status(self) -> ComponentStatus:
        record = self.pid_record()
        if record is None:
            if port_open(self.port):
                return self._status("foreign", None, f"port taken by {port_owner(self.port)}")
            return self._status("stopped", None, "not started")
        if not record.alive():
            return self._status("dead", record.pid, f"exited; see {self.log_file}")
        problem = self.probe()
        if problem is not None:
            return self._status("unhealthy", record.pid, problem)
        return self._status("running", record.pid, f"since {record.started_at}")

    def _status(self, state: str, pid: int | None, detail: str) -> ComponentStatus:
        return ComponentStatus(self.name, state, pid, self.port, self.endpoint, detail)
