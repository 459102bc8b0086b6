"""The topics the router reads and writes exist before it runs: raw sources (one per capture
connector), subscriber topics (compacted, one per subscriber and department), dead letters and
quality feedback (one each per department)."""

from __future__ import annotations

from collections.abc import Iterable

from sharebus.catalog.models import Catalog, DemandStatus, Sharing
from sharebus.core import naming
from sharebus.core.kafka_clients import (
    DOCUMENT_TOPIC_CONFIG,
    Replication,
    Role,
    TopicSpecs,
    admin_client,
    ensure_topics,
    kafka_config,
)
from sharebus.core.settings import Settings
from streams.policy.compiled import Policy

SUBSCRIBER_TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
DLQ_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(30 * 24 * 3600 * 1000)}
FEEDBACK_TOPIC_CONFIG = {"cleanup.policy": "compact,delete", "retention.ms": str(400 * 24 * 3600 * 1000)}
"""A department's feedback: a day's record replaced as its count grows; kept a year and a month
(the annual assessment, 纳入年度工作考核, looks back a year)."""


_CLOSED = (DemandStatus.REJECTED, DemandStatus.REVOKED)
RAW_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)}


def raw_topics(catalog: Catalog) -> list[str]:
    """The raw topics of the catalog's resources: one per capture connector, `cdc.<department>`."""
    return sorted({r.source.raw_topic for r in catalog.resources})


def table_topics(catalog: Catalog, existing: Iterable[str]) -> list[str]:
    """Debezium's per-table topics of the catalog's sources that still exist: a deployment from
    before the department topics, until `sharebus topics migrate` has drained and deleted them."""
    return sorted({r.source.table_topic for r in catalog.resources} & set(existing))


def source_topics(settings: Settings, catalog: Catalog, role: Role = Role.ROUTER) -> list[str]:
    """What the router reads: the raw topics, and per-table topics left from the old layout."""
    admin = admin_client(kafka_config(settings, role))
    existing = admin.list_topics(timeout=10).topics
    return sorted({*raw_topics(catalog), *table_topics(catalog, existing)})


def router_topics(settings: Settings, policy: Policy, departments: Iterable[str] | None = None) -> TopicSpecs:
    catalog = policy.catalog
    wanted: TopicSpecs = {}
    for name in raw_topics(catalog):
        wanted[name] = (settings.kafka_partitions, RAW_TOPIC_CONFIG)
    for dept in departments or [d.id for d in catalog.departments]:
        wanted[naming.dlq_topic(dept)] = (1, DLQ_TOPIC_CONFIG)
        wanted[naming.feedback_topic(dept)] = (1, FEEDBACK_TOPIC_CONFIG)
    for res in catalog.resources:
        wanted[naming.dlq_topic(res.department)] = (1, DLQ_TOPIC_CONFIG)
        wanted[naming.feedback_topic(res.department)] = (1, FEEDBACK_TOPIC_CONFIG)
    for ent in _all_entitlements(policy):
        wanted[ent] = (1, SUBSCRIBER_TOPIC_CONFIG)
    wanted[naming.entitlements_topic(settings.catalog_topic)] = (1, DOCUMENT_TOPIC_CONFIG)
    wanted[naming.keys_topic(settings.catalog_topic)] = (1, DOCUMENT_TOPIC_CONFIG)
    wanted[naming.objections_topic(settings.catalog_topic)] = (1, DOCUMENT_TOPIC_CONFIG)
    return wanted


def _all_entitlements(policy: Policy) -> set[str]:
    """Subscriber topics of every demand that is or may become effective (all statuses but
    rejected/revoked): creating them early keeps a later approval from waiting on topic creation."""
    topics: set[str] = set()
    shared = {r.id: r.department for r in policy.catalog.resources if r.sharing is not Sharing.NOT_SHARED}
    for binding in policy.catalog.subscriber_demands():
        department = shared.get(binding.demand.resource)
        if department is not None and binding.demand.status not in _CLOSED:
            topics.add(naming.share_topic(binding.subscriber, department))
    return topics


def prepare_topics(settings: Settings, policy: Policy, role: Role = Role.ROUTER) -> list[str]:
    admin = admin_client(kafka_config(settings, role))
    return ensure_topics(admin, router_topics(settings, policy), Replication.of(settings))
