"""The Ops worker extension without a worker: raw reads and delivered batches reach the meter,
and the topology follows the policy's catalog version."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from sharebus.catalog.load import load_catalog
from sharebus.core.settings import Settings
from streams.ops.extension import Ops, _topology_of
from streams.router.batch import BatchOutput, CallKey
from streams.router.records import RawRecord

REPO = Path(__file__).resolve().parents[2]


def test_raw_reads_reach_the_meter() -> None:
    ops = Ops(Settings())
    records = [RawRecord("cdc.market.public.enterprise", 0, i, b"kk", b"vvv", 0) for i in range(4)]
    ops.on_records_read(records)
    assert ops.meter.totals()[0] == {"cdc.market.public.enterprise": [4, 20]}
    ops.close()


def test_delivered_batches_reach_the_meter() -> None:
    ops = Ops(Settings())
    out = BatchOutput()
    out.count(CallKey("market", "market.enterprise", "500101", "c", "delivered", "ok"), 10, None)
    ops.on_batch_done(out, 1_800_000_000.0)
    assert ops.meter.totals()[1] == {("market", "market.enterprise", "500101", "delivered"): [1, 10]}
    ops.close()


def test_topology_is_rebuilt_only_for_a_new_catalog_version() -> None:
    catalog = load_catalog(REPO / "catalog" / "chongqing")
    service = SimpleNamespace(policy=SimpleNamespace(catalog=catalog))
    current = _topology_of(service)  # type: ignore[arg-type]
    first = current()
    assert current() is first and first.version == catalog.version
    service.policy = SimpleNamespace(
        catalog=SimpleNamespace(version="other", districts=(), subscribers=(), departments=(), resources=())
    )
    assert current().version == "other"
