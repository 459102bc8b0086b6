"""`sharebus run`'s supervisor: a child that exits is reported once, with its log's last lines, and
restarted after a back-off that grows while it keeps failing."""

from __future__ import annotations

from pathlib import Path

from sharebus.core.errors import ComponentError
from sharebus.dev.supervisor import Supervisor
from sharebus.testing.waiting import wait_until


class FakeChild:
    def __init__(self, log_path: Path, *, fails_to_start: int = 0) -> None:
        self.name, self.log_path = "district sync 500103", log_path
        self.running = False
        self.starts = 0
        self.fails_to_start = fails_to_start
        self.stopped = False

    def start(self) -> None:
        self.starts += 1
        if self.starts > 1 and self.fails_to_start > 0:
            self.fails_to_start -= 1
            raise ComponentError(self.name, "exited with code 1 while starting")
        self.running = True

    def alive(self) -> bool:
        return self.running

    def exit_code(self) -> int | None:
        return None if self.running else 1

    def stop(self) -> int | None:
        self.stopped = True
        self.running = False
        return 0


def test_an_exited_child_is_reported_with_its_log_and_restarted(tmp_path: Path) -> None:
    log = tmp_path / "sync.log"
    log.write_text("applied 10 records\nerror: Kafka at 127.0.0.1:9094: unreachable for 5 min\n")
    child = FakeChild(log)
    said: list[str] = []
    sup = Supervisor([child], said.append, backoff=(0.05, 0.1), every=0.01)
    sup.start()
    child.running = False  # it exits
    wait_until(lambda: child.starts == 2 and child.running, 5, "the restart", interval=0.01)
    codes = sup.stop()
    assert codes == {"district sync 500103": 0} and child.stopped
    assert sup.restarts == 1
    exited = [line for line in said if "exited with code 1" in line]
    assert len(exited) == 1 and "unreachable for 5 min" in exited[0] and str(log) in exited[0]
    assert any("restarted" in line for line in said)


def test_a_child_that_keeps_failing_backs_off_further_each_time(tmp_path: Path) -> None:
    child = FakeChild(tmp_path / "none.log", fails_to_start=2)
    said: list[str] = []
    sup = Supervisor([child], said.append, backoff=(0.01, 0.02, 0.04), every=0.005)
    sup.start()
    child.running = False
    wait_until(lambda: child.running, 5, "a start that works", interval=0.01)
    sup.stop()
    pauses = [line.split("restarting in ")[1].split(" s")[0] for line in said if "restarting in" in line]
    assert pauses == ["0.01", "0.02", "0.04"]
    assert sum("did not start" in line for line in said) == 2


def test_a_child_started_before_is_adopted_not_started_twice(tmp_path: Path) -> None:
    child = FakeChild(tmp_path / "router.log")
    child.start()  # `sharebus run` starts the router itself, then hands it over
    sup = Supervisor([child], [].append, every=0.01)
    sup.start()
    sup.stop()
    assert child.starts == 1
