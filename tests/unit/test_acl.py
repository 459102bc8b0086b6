"""ACLs derived from the catalog and their diff against the broker: pure, no Kafka."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sharebus.apps.acl import subscribers
from sharebus.apps.acl.grants import (
    GROUP,
    LITERAL,
    PREFIXED,
    TOPIC,
    Grant,
    bus_users,
    connect_grants,
    desired_grants,
    is_subscriber_grant,
    notice_grants,
    refuse_bus_users,
    router_grants,
    subscriber_grants,
    user,
)
from sharebus.apps.acl.sync import (
    entitled_topics,
    managed_principals,
    plan,
    plan_for,
    recipients_of,
    subscribers_of,
)
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, Demand, DemandStatus
from sharebus.core import naming
from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog(chongqing_catalog: Catalog) -> Catalog:
    return chongqing_catalog


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(runtime_dir=tmp_path, pseudonym_key="k" * 32)  # type: ignore[call-arg, arg-type]


def test_a_subscriber_reads_only_its_own_topics_and_its_groups() -> None:
    grants = subscriber_grants("500103", ["share.500103.realestate", "share.500103.market"])
    assert grants == {
        Grant("User:500103", TOPIC, "share.500103.", PREFIXED, "READ"),
        Grant("User:500103", TOPIC, "share.500103.", PREFIXED, "DESCRIBE"),
        Grant("User:500103", GROUP, "500103.", PREFIXED, "READ"),
    }
    assert all(is_subscriber_grant(g) for g in grants)
    assert subscriber_grants("500103", ["share.500101.market"]) == set()  # never another's prefix


def test_the_routers_prefix_and_another_subscribers_prefix_are_not_subscriber_grants() -> None:
    assert not is_subscriber_grant(Grant("User:sharebus-router", TOPIC, "share.", PREFIXED, "READ"))
    assert not is_subscriber_grant(Grant("User:500103", TOPIC, "share.500101.", PREFIXED, "READ"))
    legacy = Grant("User:500103", TOPIC, "share.500103.market.enterprise", LITERAL, "READ")
    assert is_subscriber_grant(legacy)  # the per-resource layout's: acl sync removes them


def test_no_entitlement_means_no_grant_at_all() -> None:
    assert subscriber_grants("500103", []) == set()


def test_entitlements_follow_the_demands(catalog: Catalog, settings: Settings) -> None:
    topics = entitled_topics(catalog, NOW)
    assert "share.500103.realestate" in topics["500103"]
    assert "share.500103.market" in topics["500103"]  # all-districts demand
    assert "share.500106.realestate" not in topics["500106"]  # pending, conditional
    assert set(topics) == subscribers_of(catalog)


def _revoke(catalog: Catalog, revoked: Callable[[Demand], bool]) -> Catalog:
    demands = [
        d.model_copy(update={"status": DemandStatus.REVOKED}) if revoked(d) else d for d in catalog.demands
    ]
    return catalog.model_copy(update={"demands": tuple(demands)})


def test_revoking_one_demand_keeps_the_prefix_and_the_last_removes_it(
    catalog: Catalog, settings: Settings
) -> None:
    before = desired_grants(settings, entitled_topics(catalog, NOW))
    one = _revoke(catalog, lambda d: d.subscriber == "500103" and d.resource == "realestate.certificate")
    after = desired_grants(settings, entitled_topics(one, NOW))
    # its other resources still flow on share.500103.*: the router tombstones the withdrawn one
    assert plan(before, after, managed_principals(settings, one, before)).changed is False
    last = _revoke(one, lambda d: d.subscriber == "civil-affairs")
    after = desired_grants(settings, entitled_topics(last, NOW))
    changes = plan(before, after, managed_principals(settings, last, before))
    assert not changes.add
    assert {(g.principal, g.name) for g in changes.remove} == {
        ("User:civil-affairs", "share.civil-affairs."),
        ("User:civil-affairs", "civil-affairs."),
    }


def test_a_subscriber_removed_from_the_catalog_loses_everything(settings: Settings) -> None:
    stale = subscriber_grants("gone", ["share.gone.market"])
    desired = router_grants(settings)
    changes = plan(stale | desired, desired, managed_principals(settings, _empty(), stale | desired))
    assert set(changes.remove) == stale and not changes.add


def test_principals_sharebus_does_not_manage_are_left_alone(settings: Settings) -> None:
    other = Grant("User:backup-tool", TOPIC, "backups", LITERAL, "READ")
    desired = router_grants(settings)
    changes = plan(desired | {other}, desired, managed_principals(settings, _empty(), desired | {other}))
    assert (changes.add, changes.remove, changes.unmanaged) == ((), (), 1)


def test_the_router_reads_raw_and_writes_subscriber_and_dead_letter_topics(settings: Settings) -> None:
    grants = {(g.resource, g.name, g.operation) for g in router_grants(settings)}
    assert ("topic", "cdc.", "READ") in grants and ("topic", "cdc.", "WRITE") not in grants
    assert ("topic", "share.", "WRITE") in grants and ("topic", "dlq.", "WRITE") in grants
    assert all(g.principal == user(settings.kafka_router_user) for g in router_grants(settings))


def test_connect_writes_raw_topics_and_owns_its_internal_topics(settings: Settings) -> None:
    grants = {(g.resource, g.name, g.operation) for g in connect_grants(settings)}
    assert ("topic", "cdc.", "WRITE") in grants and ("topic", "cdc.", "READ") not in grants
    assert ("group", settings.connect_group_id, "READ") in grants
    assert not any(name.startswith("share.") for _, name, _ in grants)


def test_connect_may_read_the_schema_history_when_a_mariadb_task_restarts(settings: Settings) -> None:
    # Found riding out a broker restart: the restarted hrss task failed with "Not authorized to
    # access group: cdc.hrss-schemahistory" (the grant was on prefix "cdc-", the connector names).
    group = naming.schema_history_group("hrss")
    assert group == "cdc.hrss-schemahistory"
    reads = [g for g in connect_grants(settings) if g.resource == "group" and g.operation == "READ"]
    assert any(group.startswith(g.name) if g.pattern == "prefixed" else group == g.name for g in reads)


def _empty() -> Catalog:
    catalog = load_catalog(REPO / "catalog" / "chongqing")
    return catalog.model_copy(update={"demands": (), "districts": ()})


class _NoBroker:
    """Any call to the broker fails the test: a refusal comes before the broker is asked."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the broker was asked: {name}")


@pytest.mark.parametrize("user", ["kafka_router_user", "kafka_connect_user", "kafka_admin_user"])
def test_a_subscriber_named_as_one_of_the_bus_users_is_refused_everywhere(
    catalog: Catalog, tmp_path: Path, user: str
) -> None:
    """`acl sync` would strip that user's grants, `subscriber rotate` reset its login and
    `subscriber disable` delete it: each refuses, naming the subscriber and the fix."""
    settings = Settings(runtime_dir=tmp_path, pseudonym_key="k" * 32, **{user: "civil-affairs"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as refused:
        plan_for(settings, catalog, set(), NOW)
    assert refused.value.subject == "subscriber civil-affairs"
    assert "SHAREBUS_KAFKA_*_USER" in str(refused.value.fix)
    broker: Any = _NoBroker()
    for command in (subscribers.add, subscribers.rotate, subscribers.disable):
        with pytest.raises(ConfigError, match="the bus's own Kafka users"):
            command(settings, catalog, "civil-affairs", broker=broker)


def test_other_subscribers_are_not_the_bus_users(catalog: Catalog, settings: Settings) -> None:
    refuse_bus_users(settings, subscribers_of(catalog))
    assert bus_users(settings) == {"sharebus-admin", "sharebus-router", "sharebus-connect"}


def test_every_subscriber_and_department_reads_its_notices_even_without_a_demand(
    catalog: Catalog, settings: Settings
) -> None:
    desired = desired_grants(settings, entitled_topics(catalog, NOW), recipients_of(catalog))
    wansheng = {g for g in desired if g.principal == "User:wansheng"}  # a zone without a demand
    assert (
        wansheng
        == notice_grants("wansheng")
        == {
            Grant("User:wansheng", TOPIC, "notice.wansheng", LITERAL, "READ"),
            Grant("User:wansheng", TOPIC, "notice.wansheng", LITERAL, "DESCRIBE"),
            Grant("User:wansheng", GROUP, "wansheng.notices", LITERAL, "READ"),
        }
    )
    assert notice_grants("realestate") <= desired  # an owning department
    assert all(is_subscriber_grant(g) for g in wansheng)
    assert not is_subscriber_grant(Grant("User:500103", TOPIC, "notice.500101", LITERAL, "READ"))
    router = {g for g in desired if g.principal == f"User:{settings.kafka_router_user}"}
    assert Grant(f"User:{settings.kafka_router_user}", TOPIC, "notice.", PREFIXED, "WRITE") in router
    assert not any(g.name.startswith("notice.") and g.operation == "READ" for g in router)
