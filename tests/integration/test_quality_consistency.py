"""Consistency through the real stack: a department's inspections must name a registered
enterprise (`references:` in the sample catalog). Enterprises are captured and routed — their keys
land in the keys topic —, then one inspection names a registered enterprise and one a valid code
nobody registered: the scorecard's consistency is exactly 1/2, the problem names the rule, and the
department's feedback carries it with a masked sample. After a restart the worker's index is
rebuilt from the keys topic: a reference to an enterprise routed before the restart is found."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.render import CaptureSpec
from sharebus.core import naming
from sharebus.core.kafka_clients import Role, consumer_config, read_partition
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.waiting import wait_until
from streams.key_index import entry_key
from tests.integration.router_harness import RouterProcess, cli_json, write_catalog
from tests.integration.test_metrics_e2e import insert

pytestmark = pytest.mark.integration


def records_at(settings: Settings, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record of a one-partition topic, read as the admin."""
    consumer = Consumer(
        consumer_config(settings, Role.ADMIN, {"group.id": "test-reader", "enable.partition.eof": True})
    )
    try:
        tp = TopicPartition(topic, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        if high <= low:
            return []
        return [(m.offset() or 0, m.key(), m.value()) for m in read_partition(consumer, tp, low, high, 30)]
    finally:
        consumer.close()


def topic_records(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record of a one-partition topic, read as the admin."""
    return [(key, value) for _, key, value in records_at(settings, topic)]


def test_consistency_counts_references_not_found_and_the_index_survives_a_restart(
    stack_settings: Settings,
    capture_factory: Callable[..., CaptureSpec],
    router_factory: Callable[..., RouterProcess],
    tmp_path: Path,
) -> None:
    market = capture_factory("market", own_database=True)  # no other writer: counts are exact
    catalog = write_catalog(tmp_path / "catalog", {"market": market.department})
    router = router_factory(catalog, SHAREBUS_QUALITY_FEEDBACK_EVERY="2")
    settings = router.settings
    dept = market.department
    enterprise, inspection = f"{dept}.enterprise", f"{dept}.inspection"
    factory = RowFactory.for_settings(stack_settings, seed=23)
    firms = [factory.enterprise() for _ in range(3)]
    stranger = factory.enterprise()["uscc"]  # a valid code nobody registered
    for firm in firms:
        insert(stack_settings, market.db_name, "enterprise", firm)

    def row_of(resource: str, seen: int) -> dict[str, Any] | None:
        report = cli_json(router, "quality", "scorecard", "--since", "1d")
        row = next(r for r in report["rows"] if r["resource"] == resource)
        return row if row["seen"] >= seen else None

    wait_until(lambda: row_of(enterprise, 3), 60, "the enterprises in the scorecard", interval=1.0)
    keys = dict(topic_records(stack_settings, naming.keys_topic(settings.catalog_topic)))
    assert all(keys.get(entry_key(enterprise, f["uscc"])) for f in firms), "each key in the keys topic"

    def inspect(uscc: str) -> None:
        row = factory.inspection(uscc, firms[0]["district_code"])
        insert(stack_settings, market.db_name, "inspection", row)

    inspect(firms[0]["uscc"])
    inspect(stranger)
    row = wait_until(lambda: row_of(inspection, 2), 60, "the inspections in the scorecard", interval=1.0)
    assert row["consistency"] == 0.5 and row["validity"] == 1.0 and row["completeness"] == 1.0
    assert row["score"] == round(100 * (0.30 + 0.25 + 0.20 + 0.15 * 0.5 + 0.10), 1)
    assert f"1 of 2 references not found: uscc → {enterprise}" in row["problems"]
    # Counted, not dead-lettered: the rule does not say `dead_letter: true`.
    assert row["invalid"] == 0

    # The department's feedback names the rule, with the inspection's key masked (an internal id).
    day = datetime.now(UTC).date().isoformat()
    wanted = naming.feedback_key(inspection, "reference:uscc", day).encode()

    def told() -> dict[str, Any] | None:
        found = [v for k, v in topic_records(stack_settings, naming.feedback_topic(dept)) if k == wanted]
        return json.loads(found[-1]) if found and found[-1] else None

    feedback = wait_until(told, 60, f"the feedback record {wanted!r}", interval=2.0)
    assert feedback["count"] == 1 and feedback["sample_key"] == "id=***"

    # Restarted, the worker rebuilds its index from the keys topic (the enterprises' changes were
    # committed before the stop and are not read again): a reference to one of them is found.
    assert router.stop() == 0
    router.start()
    inspect(firms[1]["uscc"])
    row = wait_until(lambda: row_of(inspection, 3), 60, "the third inspection", interval=1.0)
    assert row["consistency"] == round(2 / 3, 4)
    assert f"1 of 3 references not found: uscc → {enterprise}" in row["problems"]
