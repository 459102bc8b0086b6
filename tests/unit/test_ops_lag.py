"""Lag per subscriber, consumer group and topic from synthetic windows: which groups read which
topic, lag in records and seconds, the subscriber's sum and worst status, and the topology that
names districts, departments and resources."""

from __future__ import annotations

from pathlib import Path

from sharebus.catalog.load import load_catalog
from streams.ops.lag import subscriber_lags, wanted_record_times
from streams.ops.model import GroupInfo, Snapshot
from streams.ops.status import Status
from streams.ops.topology import SubscriberInfo, Topology, topology_of

REPO = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0
ENT, CERT = "share.500101.market", "share.500101.realestate"
ENT2 = "share.500102.market"

TOPOLOGY = Topology(
    version="v1",
    subscribers=(
        SubscriberInfo("500101", "万州区", "district"),
        SubscriberInfo("500102", "涪陵区", "district"),
        SubscriberInfo("civil-affairs", "重庆市民政局", "department"),
    ),
    departments={"market": "市场监督管理局", "realestate": "不动产登记中心"},
    resources={"market.enterprise": "market", "realestate.certificate": "realestate"},
    raw_topics={"cdc.market.public.enterprise": ("market.enterprise",)},
    dlq_topics={"dlq.market": "market", "dlq.realestate": "realestate"},
)


def snap(
    i: int,
    ends: dict[tuple[str, int], int],
    committed: dict[str, dict[tuple[str, int], int]],
    groups: dict[str, GroupInfo] | None = None,
    times: dict[tuple[str, int, int], float] | None = None,
) -> Snapshot:
    return Snapshot(T0 + 5 * i, ends, {}, committed, groups or {}, {}, T0 - 100, times or {})


def test_topology_of_the_sample_catalog_lists_districts_first() -> None:
    topo = topology_of(load_catalog(REPO / "catalog" / "chongqing"))
    ids = [s.id for s in topo.subscribers]
    districts = [s for s in topo.subscribers if s.is_district]
    assert ids[: len(districts)] == sorted(s.id for s in districts) and ids[0] == "500101"
    others = {s.id for s in topo.subscribers if not s.is_district}
    assert others == {"civil-affairs", "liangjiang", "wansheng"}
    assert topo.subscriber("500101") == SubscriberInfo("500101", "万州区", "district")
    assert topo.raw_topics["cdc.market"] == ("market.enterprise", "market.inspection")
    assert topo.dlq_topics["dlq.market"] == "market"
    assert topo.subscriber_of_group("500101.sync") == "500101"
    assert topo.subscriber_of_group("civil-affairs.pool") == "civil-affairs"
    assert topo.subscriber_of_group("5001011.x") is None and topo.subscriber_of_group("500101") is None
    found = topo.share_topics(
        [
            "share.500101.market",
            "share.500101.nope",
            "share.x.market",
            "cdc.market.public.enterprise",
        ]
    )
    assert list(found) == ["share.500101.market"]
    assert found["share.500101.market"].department == "market"


def test_stopped_group_is_stop_with_its_lag_and_the_others_ok() -> None:
    ends_by_i = [{(ENT, 0): 110 + 10 * i, (ENT2, 0): 50 + 10 * i} for i in range(4)]
    window = [
        snap(
            i,
            ends_by_i[i],
            {
                "500101.sync": {(ENT, 0): 100},  # stopped at 100
                "500102.sync": {(ENT2, 0): 50 + 10 * i},
            },  # keeps up
            times={(ENT, 0, 100): T0 + 1},
        )
        for i in range(4)
    ]
    lags = {lag.subscriber: lag for lag in subscriber_lags(window, TOPOLOGY, min_samples=3)}
    stopped, fine = lags["500101"], lags["500102"]
    assert stopped.status is Status.STOP and stopped.lag == 40
    assert stopped.seconds == (T0 + 15) - (T0 + 1)
    assert "no commit" in stopped.worst_reason()
    assert fine.status is Status.OK and fine.lag == 0 and fine.seconds == 0.0
    assert lags["civil-affairs"].status is Status.NONE and lags["civil-affairs"].topics == ()


def test_a_group_is_judged_only_on_topics_it_reads() -> None:
    ends = {(ENT, 0): 10, (CERT, 0): 500}
    window = [snap(i, ends, {"500101.sync": {(ENT, 0): 10}, "500101.other": {}}) for i in range(3)]
    (lag, *_) = subscriber_lags(window, TOPOLOGY, min_samples=3)
    assert [g.group for g in lag.groups] == ["500101.sync"]  # .other reads nothing of 500101's
    assert lag.status is Status.OK and lag.lag == 0
    assert [t.topic for t in lag.unconsumed] == [CERT]
    assert lag.ends == {ENT: 10, CERT: 500}


def test_a_live_member_holding_a_partition_counts_as_reading_it() -> None:
    held = GroupInfo("500101.live", "STABLE", 1, frozenset({(CERT, 0)}))
    window = [snap(i, {(ENT, 0): 10, (CERT, 0): 500}, {}, {"500101.live": held}) for i in range(3)]
    (lag, *_) = subscriber_lags(window, TOPOLOGY, min_samples=3)
    (group,) = lag.groups
    assert [t.topic.topic for t in group.topics] == [CERT]
    assert group.topics[0].partitions[0].committed == -1 and lag.lag == 500
    assert lag.status is Status.STOP  # commits are observed and none came


def test_subscriber_sums_the_slowest_group_per_topic_and_takes_the_worst_status() -> None:
    ends = {(ENT, 0): 100, (ENT, 1): 100, (CERT, 0): 40}
    window = [
        snap(
            i,
            ends,
            {
                "500101.a": {(ENT, 0): 90, (ENT, 1): 100, (CERT, 0): 40},
                "500101.b": {(ENT, 0): 70, (ENT, 1): 95},
            },
        )
        for i in range(3)
    ]
    (lag, *_) = subscriber_lags(window, TOPOLOGY, min_samples=3)
    assert lag.topic_lag() == {ENT: 35, CERT: 0}  # max(10, 30 + 5) and 0
    assert lag.lag == 35
    assert lag.by_department() == {"market": 35, "realestate": 0}
    assert lag.status is Status.STOP  # both groups' offsets stand still with lag
    body = lag.groups[1].to_dict()
    assert body["group"] == "500101.b" and body["lag_records"] == 35
    assert body["topics"][0]["partitions"][0] == {
        "partition": 0,
        "committed": 70,
        "end": 100,
        "lag": 30,
        "lag_seconds": None,
        "status": "STOP",
        "reason": "no commit for 10s while lag is 30",
    }


def test_group_errors_are_error() -> None:
    broken = GroupInfo("500101.x", "UNKNOWN", 0, frozenset(), "GROUP_AUTHORIZATION_FAILED")
    window = [snap(0, {(ENT, 0): 5}, {"500101.x": {(ENT, 0): 5}}, {"500101.x": broken})]
    (lag, *_) = subscriber_lags(window, TOPOLOGY, min_samples=3)
    assert lag.status is Status.ERROR


def test_empty_window_reports_every_subscriber_without_status() -> None:
    lags = subscriber_lags([], TOPOLOGY, min_samples=3)
    assert [lag.subscriber for lag in lags] == ["500101", "500102", "civil-affairs"]
    assert all(lag.status is Status.NONE for lag in lags)


def test_record_times_wanted_are_the_first_unconsumed_records() -> None:
    latest = snap(
        0,
        {(ENT, 0): 100, (ENT, 1): 7, (CERT, 0): 3, (ENT2, 0): 9},
        {"500101.sync": {(ENT, 0): 60, (ENT, 1): 7}, "nobody.x": {(ENT2, 0): 1}},
        {"500101.live": GroupInfo("500101.live", "STABLE", 1, frozenset({(CERT, 0)}))},
    )
    assert wanted_record_times(latest, TOPOLOGY) == [(ENT, 0, 60), (CERT, 0, 0)]
