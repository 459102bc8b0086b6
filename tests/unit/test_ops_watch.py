"""Security monitoring of subscribers' reading: a subscriber's usual volume does not alert, far
more than usual (its whole topic again, by a new group from the first offset) does, once per
window; a consumer from an address not seen before alerts; the monitor keeps, counts, reports
and exports the alerts and hands them on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.ops.denials import AUTHORIZATION_DENIALS, DenialWatch
from streams.ops.model import GroupInfo, Snapshot
from streams.ops.monitor import OpsMonitor
from streams.ops.prometheus import exposition
from streams.ops.topology import SubscriberInfo, Topology
from streams.ops.watch import NEW_ADDRESS, UNUSUAL_READING, Alert, ReadingWatch

TOPIC = "share.500101.market"
TOPOLOGY = Topology(
    version="v1",
    subscribers=(
        SubscriberInfo("500101", "万州区", "district"),
        SubscriberInfo("500102", "涪陵区", "district"),
    ),
    departments={"market": "市场监管局"},
    resources={"market.enterprise": "market"},
    raw_topics={"cdc.market": ("market.enterprise",)},
)


def snap(at: float, committed: dict[str, int], hosts: dict[str, set[str]] | None = None) -> Snapshot:
    """A sample: group → committed offset of partition 0 of the district's topic."""
    groups = {
        g: GroupInfo(g, "STABLE", 1, hosts=frozenset((hosts or {}).get(g, {"10.0.0.1"}))) for g in committed
    }
    return Snapshot(
        at=at,
        ends={(TOPIC, 0): 1_000_000},
        starts={(TOPIC, 0): 0},
        committed={g: {(TOPIC, 0): off} for g, off in committed.items()},
        groups=groups,
    )


def watch() -> ReadingWatch:
    return ReadingWatch(min_records=1000, factor=10.0, window=60.0)


def test_usual_reading_is_quiet_and_a_whole_topic_read_again_alerts_once_per_window() -> None:
    w, offset, alerts = watch(), 0, []
    for i in range(10):  # 100 records per sample: usual
        alerts += w.observe(snap(i * 5.0, {"500101.sync": offset}), TOPOLOGY)
        offset += 100
    assert alerts == [] and 18 < w.usual["500101"] < 22  # records per second
    # A new group reads the topic from its first offset: 900,000 records.
    again = snap(50.0, {"500101.sync": offset, "500101.copy": 900_000})
    (alert,) = w.observe(again, TOPOLOGY)
    assert (alert.kind, alert.subscriber) == (UNUSUAL_READING, "500101")
    assert alert.detail["records"] == 900_100 and alert.detail["threshold"] == 1000
    assert 18 < w.usual["500101"] < 22  # an alerting interval does not become the usual
    more = snap(55.0, {"500101.sync": offset, "500101.copy": 1_000_000})
    assert w.observe(more, TOPOLOGY) == []  # within the window: no second alert
    later = snap(120.0, {"500101.sync": offset, "500101.copy": 1_000_000, "500101.x": 500_000})
    assert [a.kind for a in w.observe(later, TOPOLOGY)] == [UNUSUAL_READING]


def test_a_late_sample_is_not_more_reading() -> None:
    w, offset = watch(), 0
    for i in range(6):  # 300 records a sample, every 5 s
        assert w.observe(snap(i * 5.0, {"500101.sync": offset}), TOPOLOGY) == []
        offset += 300
    # The next sample comes 60 s later: 3,600 records at the same rate is still usual.
    assert w.observe(snap(85.0, {"500101.sync": offset + 3300}), TOPOLOGY) == []


def test_a_steady_heavy_reader_is_its_own_usual_and_other_groups_are_not_subscribers() -> None:
    w, alerts = watch(), []
    for i in range(6):  # 5,000 a sample from the start: above the floor, but its usual
        alerts += w.observe(snap(i * 5.0, {"500101.sync": 5000 * i, "router.app": 10**6 * i}), TOPOLOGY)
    assert alerts == []
    assert set(w.usual) == {"500101"}


def test_a_consumer_from_a_new_address_alerts() -> None:
    w = watch()
    assert w.observe(snap(0.0, {"500101.sync": 0}, {"500101.sync": {"10.0.0.1"}}), TOPOLOGY) == []
    seen = w.observe(snap(5.0, {"500101.sync": 10}, {"500101.sync": {"10.0.0.1", "203.0.113.9"}}), TOPOLOGY)
    (alert,) = seen
    assert (alert.kind, alert.subscriber, alert.detail["address"]) == (NEW_ADDRESS, "500101", "203.0.113.9")
    assert alert.detail["known"] == ["10.0.0.1"]
    assert w.observe(snap(10.0, {"500101.sync": 20}, {"500101.sync": {"203.0.113.9"}}), TOPOLOGY) == []


class _Sampler:
    last_cpu = 0.0

    def __init__(self, snaps: list[Snapshot]) -> None:
        self.snaps = snaps

    def sample(self, topology: Topology) -> Snapshot:
        return self.snaps.pop(0)

    def dead_letters(self) -> dict[Any, Any]:
        return {}

    def close(self) -> None:
        pass


def test_the_monitor_keeps_reports_exports_and_hands_on_its_alerts() -> None:
    handed: list[Alert] = []
    snaps = [snap(0.0, {"500101.sync": 0}), snap(5.0, {"500101.sync": 0, "500101.copy": 900_000})]
    monitor = OpsMonitor(
        _Sampler(snaps),  # type: ignore[arg-type]
        lambda: TOPOLOGY,
        watch=watch(),
        on_alert=handed.append,
        clock=lambda: 6.0,
    )
    monitor.sample()
    monitor.sample()
    assert [a.kind for a in handed] == [UNUSUAL_READING]
    security = monitor.report()["security"]
    assert security["counts"] == {UNUSUAL_READING: 1}
    assert security["alerts"][0]["subscriber"] == "500101" and security["alerts"][0]["records"] == 900_000
    assert 'sharebus_security_alerts_total{kind="unusual_reading"} 1.0' in exposition(monitor).decode()


DENIED = (
    "[2026-12-07T11:13:53,002] INFO Principal = User:{user} is Denied operation = READ from host ="
    " 10.1.2.3 on resource = Topic:LITERAL:share.500102.market for request = Fetch with"
    " resourceRefCount = 1 based on rule DefaultDeny (logger)\n"
)


def test_repeated_broker_denials_of_one_principal_alert_once_per_window(tmp_path: Path) -> None:
    log = tmp_path / "kafka.log"
    log.write_text(DENIED.format(user="500101") * 50)  # history before the worker started: not counted
    w = DenialWatch((tmp_path / "kafka*.log",), threshold=3, window=60.0)
    assert w.poll(0.0) == []
    with log.open("a") as fh:
        fh.write(DENIED.format(user="500101") * 2 + "[..] INFO something else\n" + DENIED.format(user="x"))
    assert w.poll(5.0) == []  # 2 denials of 500101: under the threshold
    with log.open("a") as fh:
        fh.write(DENIED.format(user="500101") + DENIED.format(user="500101")[:40])  # a half-written line
    (alert,) = w.poll(10.0)
    assert (alert.kind, alert.subscriber, alert.detail["count"]) == (AUTHORIZATION_DENIALS, "500101", 3)
    assert (
        alert.detail["resource"] == "Topic:LITERAL:share.500102.market" and alert.detail["host"] == "10.1.2.3"
    )
    with log.open("a") as fh:
        fh.write(DENIED.format(user="500101")[40:] + DENIED.format(user="500101") * 5)
    assert w.poll(20.0) == []  # within the window: no second alert
    (tmp_path / "kafka-2.log").write_text(DENIED.format(user="500103") * 3)  # a broker log new since
    assert [a.subscriber for a in w.poll(90.0)] == ["500103"]
    log.write_text("")  # rotated
    with log.open("a") as fh:
        fh.write(DENIED.format(user="500101") * 3)
    assert [a.subscriber for a in w.poll(100.0)] == ["500101"]
