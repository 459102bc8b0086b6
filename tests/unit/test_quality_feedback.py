"""The departments' quality feedback: sample keys masked as their fields may be shown, one record
per problem kind, resource and day with the responsible unit and contact, changed records only;
the figures it is made from through the embedded store; its topics and ACLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from sharebus.apps.acl.grants import GROUP, TOPIC, desired_grants, feedback_grants, is_subscriber_grant
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog
from sharebus.core import naming
from sharebus.core.settings import Settings
from streams.metrics.chdb_store import ChdbStore
from streams.metrics.quality_queries import feedback_plan
from streams.metrics.rows import QualityRow
from streams.quality_feedback import HIDDEN, Problem, changed, feedback_records, masked_key

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"
# Today at noon: the raw rows' TTL (3 days) would drop rows of a fixed date long past.
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


def test_a_sample_key_shows_public_values_and_masks_the_rest(catalog: Catalog) -> None:
    enterprise = catalog.resource("market.enterprise")
    assert masked_key(enterprise, b'{"uscc": "91500101MA5U7X1234"}') == "uscc=91500101MA5U7X1234"
    person = catalog.resource("hrss.social_insurance")
    assert person is not None
    key_field = person.field(person.primary_key[0])
    assert key_field is not None and key_field.grade.value != "public"
    shown = masked_key(person, orjson.dumps({person.primary_key[0]: "500101199001011234"}))
    assert "199001011234" not in shown and (shown.endswith(HIDDEN) or "*" in shown)
    assert masked_key(enterprise, b"{not json") == "" and masked_key(None, None) == ""
    assert masked_key(None, b'{"id": 7}') == f"id={HIDDEN}"  # no resource: nothing is known public


def test_one_record_per_problem_resource_and_day_names_the_unit_and_contact(catalog: Catalog) -> None:
    problem = Problem(
        "2026-06-03",
        "market",
        "market.enterprise",
        "code",
        3,
        "2026-06-03T08:01:00Z",
        "2026-06-03T09:30:00Z",
        "uscc=915001",
    )
    ((topic, value, key),) = feedback_records(catalog, [problem])
    assert topic == naming.feedback_topic("market") == "feedback.market"
    assert key == b"market.enterprise/code/2026-06-03"
    body = orjson.loads(value)
    assert body["count"] == 3 and body["sample_key"] == "uscc=915001"
    assert body["responsible_unit"] == "重庆市市场监督管理局 登记注册处"
    assert body["contact"]["phone"] == "023-00000001"
    assert changed([(topic, value, key)], {key: value}) == []
    assert changed([(topic, value, key)], {key: b"{}"}) == [(topic, value, key)]


def test_the_feedback_query_counts_each_check_per_day_with_first_and_last_seen(tmp_path: Path) -> None:
    store = ChdbStore(tmp_path / "metrics")
    try:
        store.apply_ddl()

        def row(minute: datetime, invalid: dict[str, int], samples: dict[str, str]) -> QualityRow:
            return QualityRow(
                minute,
                "market",
                "market.enterprise",
                5,
                invalid,
                samples,
                5,
                ("uscc",),
                (5,),
                10,
                10,
                5,
                0,
                0,
                minute,
            )

        store.insert_quality(
            [
                row(NOW - timedelta(days=3), {"code": 9}, {"code": "uscc=old"}),  # before the window
                row(NOW - timedelta(days=1, hours=1), {"code": 1}, {"code": "uscc=a"}),
                row(
                    NOW - timedelta(minutes=30), {"code": 2, "key": 1}, {"code": "uscc=b", "key": "uscc=null"}
                ),
                row(NOW - timedelta(minutes=5), {"code": 1}, {"code": "uscc=c"}),
                row(NOW - timedelta(minutes=4), {}, {}),
            ],
            token="fe01",
        )
        rows = feedback_plan("sharebus", NOW).run(store)["rows"]
    finally:
        store.close()
    got = {(r["day"], r["problem"]): r for r in rows}
    day, yesterday = NOW.date().isoformat(), (NOW.date() - timedelta(days=1)).isoformat()
    assert sorted(got) == [(yesterday, "code"), (day, "code"), (day, "key")]
    today = got[(day, "code")]
    assert today["count"] == 3 and today["first_seen"] == f"{day}T11:30:00Z"
    assert today["last_seen"] == f"{day}T11:55:00Z" and today["sample_key"] in ("uscc=b", "uscc=c")
    assert got[(day, "key")]["sample_key"] == "uscc=null"
    assert Problem.of(today).count == 3


def test_a_department_alone_reads_its_feedback_and_acl_sync_owns_the_grants() -> None:
    grants = feedback_grants("market")
    assert {(g.resource, g.name, g.operation) for g in grants} == {
        (TOPIC, "feedback.market", "READ"),
        (TOPIC, "feedback.market", "DESCRIBE"),
        (GROUP, "market.feedback", "READ"),
    }
    assert all(g.principal == "User:market" and is_subscriber_grant(g) for g in grants)
    desired = desired_grants(Settings(), {}, (), ["market", "hrss"])
    assert grants <= desired and feedback_grants("hrss") <= desired
