"""Process supervision without the real stack: spawn, detect death, port owners, stop."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from sharebus.core.errors import ComponentError, PortInUseError
from sharebus.core.process import PidRecord, port_owner, read_pid, require_port_free, spawn, tail
from sharebus.core.progress import silent
from sharebus.core.settings import Settings
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.layout import Layout
from sharebus.testing.ports import free_port


class FakeComponent(Component):
    """A component whose process is a small Python script."""

    name = "fake"
    port_setting = "SHAREBUS_FAKE_PORT"
    start_timeout = 10.0

    def __init__(self, settings: Settings, layout: Layout, script: str, port: int) -> None:
        super().__init__(settings, layout)
        self.script = script
        self._port = port

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def marker(self) -> str:
        return f"fake-marker-{self._port}"

    def prepare(self, echo: object) -> None:
        pass

    def launch(self) -> PidRecord:
        return spawn(
            [sys.executable, "-c", self.script, self.marker],
            log_file=self.log_file,
            pid_file=self.layout.pid_file(self.name),
            marker=self.marker,
        )

    def probe(self) -> str | None:
        try:
            socket.create_connection(("127.0.0.1", self._port), timeout=0.2).close()
        except OSError:
            return "not listening"
        return None


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    lay = Layout(tmp_path)
    lay.ensure()
    return lay


SERVE = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {port})); s.listen(); print("serving", flush=True)
while True: time.sleep(1)
"""


def test_start_status_stop_roundtrip(layout: Layout) -> None:
    port = free_port()
    comp = FakeComponent(Settings(), layout, SERVE.format(port=port), port)
    assert comp.status().state == "stopped"
    assert comp.start(silent) == "started"
    assert comp.start(silent) == "already running"
    status = comp.status()
    assert status.state == "running" and status.pid == read_pid(layout.pid_file("fake")).pid  # type: ignore[union-attr]
    assert comp.stop() is True
    assert comp.status().state == "stopped"
    assert comp.stop() is False


def test_a_process_that_dies_while_starting_reports_its_log_tail(layout: Layout) -> None:
    port = free_port()
    comp = FakeComponent(
        Settings(), layout, "import sys; print('boom: bad config line 7'); sys.exit(3)", port
    )
    with pytest.raises(ComponentError) as err:
        comp.start(silent)
    message = str(err.value)
    assert "exited while starting" in message and "boom: bad config line 7" in message
    assert str(layout.log_file("fake")) in message


def test_port_in_use_names_the_owner_and_the_setting() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError) as err:
            require_port_free("kafka", port, "SHAREBUS_KAFKA_BOOTSTRAP")
        assert f"port {port}" in str(err.value)
        assert "SHAREBUS_KAFKA_BOOTSTRAP" in str(err.value)
        assert "python" in port_owner(port)


def test_stale_pid_file_of_another_process_is_not_ours(layout: Layout) -> None:
    port = free_port()
    comp = FakeComponent(Settings(), layout, SERVE.format(port=port), port)
    # pid 1 exists but is not our process: the marker guards against pid reuse.
    layout.pid_file("fake").write_text(json.dumps({"pid": 1, "marker": comp.marker, "started_at": "x"}))
    assert comp.status().state == "dead"
    assert comp.stop() is False


def test_tail_returns_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3).splitlines() == ["line 97", "line 98", "line 99"]
    assert tail(tmp_path / "missing.log") == ""
