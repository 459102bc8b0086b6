"""Throughput windows from end-offset history, the router meter's slots and totals, latency
histograms, and commit records of `__consumer_offsets`."""

from __future__ import annotations

import struct

import pytest

from streams.ops.commits import parse_commit
from streams.ops.histogram import LatencyHistogram
from streams.ops.meter import RouterMeter
from streams.ops.throughput import EndSample, rates, window_rates
from streams.router.batch import BatchOutput, CallKey
from streams.router.records import RawRecord

T0 = 1_800_000_000.0


def test_rates_over_the_window_from_the_oldest_sample_inside_it() -> None:
    history = [EndSample(T0 + 5 * i, {"a": 100 * i, "b": 7}) for i in range(13)]  # 60 s
    got = rates(history, 60.0)
    assert got["a"].per_second == pytest.approx(20.0) and got["a"].span == 60.0
    assert got["b"].per_second == 0.0
    short = rates(history, 10.0)
    assert short["a"].per_second == pytest.approx(20.0) and short["a"].span == 10.0


def test_rates_with_short_history_report_the_span_they_cover() -> None:
    history = [EndSample(T0, {"a": 0}), EndSample(T0 + 3, {"a": 30, "new": 5})]
    by_window = window_rates(history)
    assert by_window["5m"]["a"].per_second == 10.0 and by_window["5m"]["a"].span == 3.0
    assert "new" not in by_window["1m"]  # seen once: no rate yet
    assert rates(history[:1], 60.0) == {}


def test_a_topic_recreated_never_gives_a_negative_rate() -> None:
    history = [EndSample(T0, {"a": 500}), EndSample(T0 + 10, {"a": 20})]
    assert rates(history, 60.0)["a"].per_second == 0.0


def test_histogram_percentiles_within_the_bucket_error() -> None:
    hist = LatencyHistogram()
    hist.add([float(ms) for ms in range(1, 1001)])
    assert hist.count == 1000
    assert hist.quantile(0.5) == pytest.approx(500, rel=0.08)
    assert hist.quantile(0.99) == pytest.approx(990, rel=0.08)
    assert LatencyHistogram().quantile(0.5) is None
    buckets = dict(hist.cumulative_buckets())
    assert buckets["0.1"] == 100 and buckets["1.0"] == 1000 and buckets["+Inf"] == 1000


def test_histogram_weights_and_merges() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.add([10.0], weight=3)
    b.add([1000.0], weight=1)
    a.merge(b)
    assert a.count == 4 and a.total_ms == 1030.0
    assert a.quantile(0.5) == pytest.approx(10, rel=0.08)
    assert a.quantile(0.99) == pytest.approx(1000, rel=0.08)


def batch(delivered: int, dead: int = 0, withheld: int = 0, ts_ms: float = 0.0) -> BatchOutput:
    out = BatchOutput()
    for _ in range(delivered):
        out.count(CallKey("market", "market.enterprise", "500101", "c", "delivered", "ok"), 100, int(ts_ms))
    for _ in range(dead):
        out.count(CallKey("market", "", "", "c", "dead_letter", "decode"), 40, None)
    for _ in range(withheld):
        out.count(CallKey("market", "market.inspection", "", "c", "withheld", "not_shared"), 0, None)
    return out


def test_meter_windows_series_and_totals() -> None:
    clock = [T0]
    meter = RouterMeter(slot_seconds=5.0, clock=lambda: clock[0])
    raw = [RawRecord("cdc.market.public.enterprise", 0, i, b"k", b"v" * 9, 0) for i in range(10)]
    for i in range(12):  # one batch every 5 s for a minute
        clock[0] = T0 + 5 * i
        meter.add_raw(raw)
        meter.add_batch(batch(20, dead=1, withheld=2, ts_ms=(clock[0] - 0.25) * 1000), clock[0])
    clock[0] = T0 + 60
    win = meter.window(60.0)
    assert win.span == 60.0
    assert win.raw["cdc.market.public.enterprise"] == [120, 1200]
    assert win.delivered["share.500101.market"] == [240, 24000]
    assert win.dead == {"market": [12, 480]} and win.withheld == 24
    summary = win.summary()
    assert summary["in_records_per_s"] == 2.0 and summary["delivered_per_s"] == 4.0
    assert summary["latency_ms"]["records"] == 240
    assert summary["latency_ms"]["p50"] == pytest.approx(250, rel=0.08)
    series = meter.series()
    assert len(series) == 12 and series[0]["in_per_s"] == 2.0 and series[0]["out_per_s"] == 4.0
    raw_totals, calls, latency = meter.totals()
    assert raw_totals == {"cdc.market.public.enterprise": [120, 1200]}
    assert calls[("market", "market.enterprise", "500101", "delivered")] == [240, 24000]
    assert calls[("market", "", "", "dead_letter")] == [12, 480]
    assert latency.count == pytest.approx(240)


def test_meter_forgets_slots_past_five_minutes_but_not_totals() -> None:
    clock = [T0]
    meter = RouterMeter(slot_seconds=5.0, keep_seconds=300.0, clock=lambda: clock[0])
    meter.add_batch(batch(5), T0)
    clock[0] = T0 + 400
    meter.add_batch(batch(1), clock[0])
    assert meter.window(300.0).delivered["share.500101.market"] == [1, 100]
    assert meter.totals()[1][("market", "market.enterprise", "500101", "delivered")] == [6, 600]


def test_meter_latency_samples_are_capped_per_key_but_weighted() -> None:
    meter = RouterMeter(clock=lambda: T0)
    out = BatchOutput()
    for i in range(200):
        out.count(CallKey("m", "m.r", "s", "c", "delivered", "x"), 1, int(T0 * 1000) - i)
    meter.add_batch(out, T0)
    latency = meter.totals()[2]
    assert latency.count == pytest.approx(200)  # 20 samples, each standing for 10 records


def key(group: str, topic: str, partition: int, version: int = 1) -> bytes:
    g, t = group.encode(), topic.encode()
    head = struct.pack(">hh", version, len(g)) + g
    return head + struct.pack(">h", len(t)) + t + struct.pack(">i", partition)


def test_parse_commit_records_of_every_value_version() -> None:
    k = key("500101.sync", "share.500101.market", 2)
    v3 = struct.pack(">hqih", 3, 1234, 5, 0) + struct.pack(">q", 1)
    v4 = struct.pack(">hqi", 4, 99, -1) + b"\x01" + struct.pack(">q", 1) + b"\x00"  # flexible
    v1 = struct.pack(">hqh", 1, 7, 0) + struct.pack(">qq", 1, 2)
    assert parse_commit(k, v3) == ("500101.sync", "share.500101.market", 2, 1234)
    assert parse_commit(k, v4) == ("500101.sync", "share.500101.market", 2, 99)
    assert parse_commit(key("g", "t", 0, version=0), v1) == ("g", "t", 0, 7)


def test_parse_commit_ignores_other_records() -> None:
    group_meta = struct.pack(">hh", 2, 3) + b"grp"
    assert parse_commit(group_meta, b"\x00\x03" + b"\x00" * 20) is None
    assert parse_commit(key("g", "t", 0), None) is None  # tombstone: offsets deleted
    assert parse_commit(b"\x00\x01\x00\x50", b"\x00" * 12) is None  # truncated key
    assert parse_commit(None, b"\x00" * 12) is None
