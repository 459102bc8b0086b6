"""Supervision of the local stack's OS processes: start detached, record, find, stop, diagnose."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sharebus.core.errors import ComponentError, PortInUseError


@dataclass(frozen=True)
class PidRecord:
    """What `up` wrote about a process it started; `down` stops only processes it finds here."""

    pid: int
    marker: str  # a string that must appear in the process's command line (guards pid reuse)
    started_at: str

    def alive(self) -> bool:
        return process_matches(self.pid, self.marker)


def process_matches(pid: int, marker: str) -> bool:
    """True when `pid` runs and its command line contains `marker`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if _proc_state(pid) in ("Z", "X"):
        return False
    # An empty command line is a process between fork and exec (the java launcher re-execs).
    return marker in cmdline or not cmdline.strip()


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "X"
    return stat.rpartition(")")[2].split()[0]


def read_pid(pid_file: Path) -> PidRecord | None:
    try:
        raw = json.loads(pid_file.read_text())
        return PidRecord(int(raw["pid"]), str(raw["marker"]), str(raw["started_at"]))
    except (OSError, ValueError, KeyError):
        return None


def write_pid(pid_file: Path, pid: int, marker: str) -> PidRecord:
    record = PidRecord(pid, marker, datetime.now(UTC).isoformat())
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps(record.__dict__))
    return record


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    marker: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> PidRecord:
    """Start `argv` in its own session, output appended to `log_file`, and record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(f"\n--- started {datetime.now(UTC).isoformat()}: {argv[0]}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
            group=user,
        )
    return write_pid(pid_file, proc.pid, marker)


def terminate(pid: int, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Send `sig` to the process group of `pid`, SIGKILL after `timeout`; True if it ran."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    _signal_group(pgid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)
    time.sleep(0.2)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    _reap(pid)
    return _proc_state(pid) not in ("Z", "X")


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str:
    """Describe the process listening on `port` (pid and command), as far as `ss` can tell."""
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "an unknown process"
    # users:(("java",pid=1234,fd=99))
    if "pid=" in out:
        users = out[out.find("users:") :].strip()
        pid = users.split("pid=")[1].split(",")[0]
        cmd = _cmdline(int(pid)) if pid.isdigit() else ""
        return f"pid {pid} ({cmd[:120] or users})"
    return "an unknown process" if not out.strip() else out.strip()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def require_port_free(component: str, port: int, setting: str) -> None:
    """Raise `PortInUseError` naming the owner when `port` is already taken."""
    if port_open(port):
        raise PortInUseError(
            component,
            f"port {port} is already in use",
            expected=f"port {port} free for the local {component}",
            actual=f"taken by {port_owner(port)}",
            fix=f"stop that process, or choose another port with {setting}",
        )


def tail(path: Path, lines: int = 25) -> str:
    """The last `lines` lines of a log file ('' if missing)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def died_during_start(component: str, log_file: Path) -> ComponentError:
    return ComponentError(
        component,
        "the process exited while starting",
        expected=f"{component} running and healthy",
        actual="process gone",
        fix=f"read the log below (whole log: {log_file}), fix the cause, then `sharebus stack up`",
        details=tail(log_file),
    )
