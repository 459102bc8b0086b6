"""The ops report and its Prometheus exposition from a monitor fed synthetic samples: districts
first, the same lag in JSON and in /metrics, throughput, router figures, dead letters, connectors,
and a failing sample reported rather than raised."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from streams.ops.connector_states import ConnectorsSample
from streams.ops.errors import OpsError
from streams.ops.meter import RouterMeter
from streams.ops.model import DeadLetter, GroupInfo, Snapshot
from streams.ops.monitor import OpsMonitor
from streams.ops.prometheus import exposition
from streams.ops.topology import SubscriberInfo, Topology
from streams.router.batch import BatchOutput, CallKey
from streams.router.records import RawRecord

T0 = 1_800_000_000.0
ENT1, ENT2 = "share.500101.market", "share.500102.market"
RAW, DLQ = "cdc.market.public.enterprise", "dlq.market"
TOPOLOGY = Topology(
    version="v1",
    subscribers=(
        SubscriberInfo("civil-affairs", "重庆市民政局", "department"),
        SubscriberInfo("500101", "万州区", "district"),
        SubscriberInfo("500102", "涪陵区", "district"),
    ),
    departments={"market": "市场监督管理局"},
    resources={"market.enterprise": "market"},
    raw_topics={RAW: ("market.enterprise",)},
    dlq_topics={DLQ: "market"},
)


@dataclass
class ScriptedSampler:
    """Hands out prepared snapshots; raises OpsError when the script says so."""

    script: list[Snapshot | OpsError]
    last_cpu: float = 0.002
    letters: dict[Any, list[DeadLetter]] = field(default_factory=dict)

    def sample(self, topology: Topology) -> Snapshot:
        step = self.script.pop(0)
        if isinstance(step, OpsError):
            raise step
        return step

    def dead_letters(self) -> dict[Any, list[DeadLetter]]:
        return self.letters

    def close(self) -> None:
        pass


def snapshots() -> list[Snapshot]:
    out = []
    for i in range(4):
        at = T0 + 5 * i
        ends = {(ENT1, 0): 110 + 10 * i, (ENT2, 0): 50 + 10 * i, (RAW, 0): 1000 + 50 * i, (DLQ, 0): 7}
        committed = {"500101.sync": {(ENT1, 0): 100}, "500102.sync": {(ENT2, 0): 50 + 10 * i}}
        groups = {
            "500101.sync": GroupInfo("500101.sync", "EMPTY", 0),
            "500102.sync": GroupInfo("500102.sync", "STABLE", 1, frozenset({(ENT2, 0)})),
        }
        times = {(ENT1, 0, 100): T0 - 20, (RAW, 0, ends[(RAW, 0)] - 1): at - 1}
        out.append(Snapshot(at, ends, {(DLQ, 0): 2}, committed, groups, {}, T0 - 60, times, 0.05))
    return out


def monitor(script: list[Snapshot | OpsError]) -> OpsMonitor:
    meter = RouterMeter(clock=lambda: T0 + 15)
    meter.started = T0 - 60
    out = BatchOutput()
    for _ in range(30):
        key = CallKey("market", "market.enterprise", "500102", "c", "delivered", "ok")
        out.count(key, 200, int(T0 * 1000))
    meter.add_batch(out, T0 + 0.1)
    meter.add_raw([RawRecord(RAW, 0, i, b"k", b"vvvv", 0) for i in range(15)], T0 + 1)
    letter = DeadLetter(DLQ, 0, 6, T0 - 5, "uscc fails its check", "code", "market.enterprise", "市场监管局")
    sampler = ScriptedSampler(script, letters={(DLQ, 0): [letter]})
    connectors = ConnectorsSample(
        T0,
        (
            {
                "name": "cdc-market",
                "department": "market",
                "state": "RUNNING",
                "tasks": [{"id": 0, "state": "RUNNING"}],
                "error": None,
                "retention": {
                    "name": "sharebus_market",
                    "retained_bytes": 4096,
                    "lag_bytes": 0,
                    "active": True,
                },
            },
        ),
    )
    mon = OpsMonitor(
        sampler,
        lambda: TOPOLOGY,
        interval=5.0,
        window=10,
        min_samples=3,
        meter=meter,  # type: ignore[arg-type]
        clock=lambda: T0 + 15,
    )
    mon.connectors = connectors
    for _ in script[:]:
        mon.sample()
    return mon


def test_report_puts_districts_first_with_status_lag_and_reason() -> None:
    report = monitor(snapshots()).report()  # type: ignore[arg-type]
    subs = report["subscribers"]
    assert [s["subscriber"] for s in subs] == ["civil-affairs", "500101", "500102"]  # topology order
    s1 = subs[1]
    assert s1["district"] and s1["name"] == "万州区"
    assert (s1["status"], s1["lag_records"], s1["lag_seconds"]) == ("STOP", 40, 35.0)
    assert s1["reason"] == f"{ENT1}: no commit for 15s while lag is 40"
    assert s1["records_per_s"]["1m"] == 2.0 and s1["lag_by_department"] == {"market": 40}
    assert s1["groups"][0]["state"] == "EMPTY"
    assert s1["topics"][0]["read_by"] == ["500101.sync"]
    assert subs[2]["status"] == "OK" and subs[2]["lag_records"] == 0
    assert subs[2]["delivered_per_s_1m"] == 0.5  # 30 delivered over the 60 s the meter has run
    assert subs[0]["status"] == "NONE" and subs[0]["reason"] == "no topics yet"
    assert report["summary"] == {
        "status": "STOP",
        "subscribers_by_status": {"NONE": 1, "OK": 1, "STOP": 1},
        "lag_records": 40,
        "max_lag_seconds": 35.0,
        "dead_letters": 5,
    }
    assert report["sampler"]["samples"] == 4 and report["sampler"]["window_span_s"] == 15.0
    assert report["generated_at"] == "2027-01-15T08:00:15.000Z"


def test_report_throughput_router_dead_letters_and_connectors() -> None:
    report = monitor(snapshots()).report()  # type: ignore[arg-type]
    (raw,) = report["raw_topics"]
    assert raw["records_per_s"] == {"1m": 10.0, "5m": 10.0}
    assert raw["router_records_per_s"]["1m"] == 0.25 and raw["router_bytes_per_s"]["1m"] == 1.25
    assert raw["age_s"] == 1.0
    (topic,) = report["subscribers"][2]["topics"]
    assert topic["router_delivered_per_s"] == {"1m": 0.5, "5m": 0.4}  # the meter ran 75 s
    assert topic["router_delivered_bytes_per_s"] == {"1m": 100.0, "5m": 80.0}
    router = report["router"]["windows"]["1m"]
    assert router["delivered_per_s"] == 0.5 and router["latency_ms"]["records"] == 30
    (dlq,) = report["dead_letters"]
    assert dlq["depth"] == 5 and dlq["latest"][0]["reason"] == "uscc fails its check"
    assert report["departments"][0]["connector_state"] == "RUNNING"
    assert report["departments"][0]["dead_letters"] == 5
    assert report["connectors"]["items"][0]["name"] == "cdc-market"


def test_prometheus_exposes_the_same_lag_and_status() -> None:
    mon = monitor(snapshots())
    families = {f.name: f for f in text_string_to_metric_families(exposition(mon).decode())}
    lag = {s.labels["subscriber"]: s.value for s in families["sharebus_subscriber_lag_records"].samples}
    assert lag == {"civil-affairs": 0, "500101": 40, "500102": 0}
    status = {
        (s.labels["subscriber"], s.labels["status"]): s.value
        for s in families["sharebus_subscriber_status"].samples
    }
    assert status[("500101", "STOP")] == 1 and status[("500101", "OK")] == 0
    group = families["sharebus_consumergroup_lag_records"].samples[0]
    assert group.labels == {
        "subscriber": "500101",
        "group": "500101.sync",
        "topic": ENT1,
        "department": "market",
    }
    assert group.value == 40
    ends = {s.labels["topic"]: s.value for s in families["sharebus_topic_records"].samples}
    assert ends[RAW] == 1150 and ends[DLQ] == 7
    calls = families["sharebus_router_records"].samples[0]
    assert calls.labels["outcome"] == "delivered" and calls.value == 30
    latency = {s.name: s.value for s in families["sharebus_delivery_latency_seconds"].samples}
    assert latency["sharebus_delivery_latency_seconds_count"] == 30
    slot = families["sharebus_replication_slot_retained_bytes"].samples[0]
    assert slot.labels == {"connector": "cdc-market", "slot": "sharebus_market"} and slot.value == 4096
    assert families["sharebus_dead_letter_records"].samples[0].value == 5


def test_a_failed_sample_is_reported_and_the_figures_stay() -> None:
    down = OpsError("Kafka at kafka:9092", "did not answer the ops sample")
    mon = monitor([*snapshots(), down])
    report = mon.report()
    assert report["sampler"]["error"] == "Kafka at kafka:9092: did not answer the ops sample"
    assert report["subscribers"][1]["lag_records"] == 40
    families = {f.name: f for f in text_string_to_metric_families(exposition(mon).decode())}
    assert families["sharebus_ops_sample_failing"].samples[0].value == 1
