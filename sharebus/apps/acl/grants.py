"""The ACLs the bus needs, derived from the catalog and the settings: pure data, no Kafka."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sharebus.core import naming
from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings

TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID = "topic", "group", "cluster", "transactional-id"
LITERAL, PREFIXED = "literal", "prefixed"
CLUSTER_NAME = "kafka-cluster"


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL binding (host `*`)."""

    principal: str  # "User:<name>"
    resource: str  # topic | group | cluster
    name: str
    pattern: str  # literal | prefixed
    operation: str  # READ, WRITE, DESCRIBE, CREATE, ... (Kafka's AclOperation names)

    @property
    def user(self) -> str:
        return self.principal.removeprefix("User:")

    def describe(self) -> str:
        star = "*" if self.pattern == PREFIXED else ""
        return f"{self.principal} {self.operation} {self.resource} {self.name}{star}"

    def to_dict(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "resource": self.resource,
            "name": self.name,
            "pattern": self.pattern,
            "operation": self.operation,
        }


def user(name: str) -> str:
    return f"User:{name}"


def bus_users(settings: Settings) -> frozenset[str]:
    """The bus's own Kafka users: no subscriber may be one of them (its grants and password would
    be the bus's: `acl sync` would strip the router's grants, `subscriber rotate` reset its login)."""
    return frozenset({settings.kafka_admin_user, settings.kafka_router_user, settings.kafka_connect_user})


def refuse_bus_users(settings: Settings, subscribers: Iterable[str]) -> None:
    """ConfigError when a subscriber id is one of the bus's own users."""
    taken = sorted(set(subscribers) & bus_users(settings))
    if taken:
        raise ConfigError(
            f"subscriber {taken[0]}",
            "has the name of one of the bus's own Kafka users",
            expected=f"a name other than {', '.join(sorted(bus_users(settings)))}",
            actual=", ".join(taken),
            fix="rename the subscriber in the catalog (ids starting with 'sharebus' are refused there),"
            " or give the bus's users other names (SHAREBUS_KAFKA_*_USER)",
        )


def _grants(principal: str, resource: str, name: str, pattern: str, operations: Iterable[str]) -> set[Grant]:
    return {Grant(principal, resource, name, pattern, op) for op in operations}


def subscriber_grants(subscriber: str, topics: Iterable[str]) -> set[Grant]:
    """A subscriber reads its own topics, `share.<subscriber>.*` (one prefixed grant, however
    many departments and resources), in groups named `<subscriber>.<anything>`. No entitled
    topic → no grant at all (a subscriber whose last demand is revoked loses its group too).

    What a subscriber may see inside its topics is the router's decision: a resource withdrawn
    from it is tombstoned there (`streams.router.withdraw`)."""
    prefix = naming.share_prefix(subscriber)
    if not any(topic.startswith(prefix) for topic in topics):
        return set()
    principal = user(subscriber)
    out = _grants(principal, TOPIC, prefix, PREFIXED, ("READ", "DESCRIBE"))
    out |= _grants(principal, GROUP, naming.subscriber_group_prefix(subscriber), PREFIXED, ("READ",))
    return out


def router_grants(settings: Settings) -> set[Grant]:
    """Read raw topics; write subscriber, dead-letter and audit topics; read the catalog; ops sampling."""
    p = user(settings.kafka_router_user)
    app = naming.app_prefix(settings.router_id)  # the Faust app `<router_id>.app` and its internal topics
    out = _grants(p, TOPIC, naming.RAW_PREFIX, PREFIXED, ("READ", "DESCRIBE", "CREATE"))
    # READ: ops' lag in seconds is the age of a subscriber's first unread record (data the router
    # wrote itself; districts never get READ beyond their own topics).
    out |= _grants(p, TOPIC, naming.SHARE_PREFIX, PREFIXED, ("READ", "WRITE", "DESCRIBE", "CREATE"))
    out |= _grants(p, TOPIC, naming.DLQ_PREFIX, PREFIXED, ("READ", "WRITE", "DESCRIBE", "CREATE"))
    # No WRITE: only the admin publishes catalog versions (signed; the workers verify them).
    out |= _grants(p, TOPIC, settings.catalog_topic, LITERAL, ("READ", "DESCRIBE", "CREATE"))
    derived = naming.catalog_derived_prefix(settings.catalog_topic)
    out |= _grants(p, TOPIC, derived, PREFIXED, ("READ", "DESCRIBE"))
    enforced = naming.entitlements_topic(settings.catalog_topic)  # what the workers last enforced
    out |= _grants(p, TOPIC, enforced, LITERAL, ("WRITE", "CREATE"))
    keys = naming.keys_topic(settings.catalog_topic)  # the referenced resources' keys (consistency)
    out |= _grants(p, TOPIC, keys, LITERAL, ("WRITE", "CREATE"))
    objections = naming.objections_topic(settings.catalog_topic)  # the web API's objections
    out |= _grants(p, TOPIC, objections, LITERAL, ("WRITE", "CREATE"))
    # The web API's demand steps, for the admin's desk to take (never the catalog itself).
    requests = naming.demand_requests_topic(settings.catalog_topic)
    out |= _grants(p, TOPIC, requests, LITERAL, ("WRITE",))
    # Notices of expiries and destructions (the withdrawal) to subscribers and departments.
    out |= _grants(p, TOPIC, naming.NOTICE_PREFIX, PREFIXED, ("WRITE", "DESCRIBE", "CREATE"))
    out |= _grants(p, TOPIC, naming.FEEDBACK_PREFIX, PREFIXED, ("WRITE", "DESCRIBE", "CREATE"))
    # READ: the worker counts every audit event into the metrics.
    out |= _grants(p, TOPIC, settings.audit_topic, LITERAL, ("READ", "WRITE", "DESCRIBE", "CREATE"))
    chain = naming.audit_transactional_id(settings.audit_topic)  # audit writers take turns through it
    out |= _grants(p, TRANSACTIONAL_ID, chain, LITERAL, ("WRITE", "DESCRIBE"))
    out |= _grants(p, TOPIC, app, PREFIXED, ("READ", "WRITE", "DESCRIBE", "CREATE"))
    out |= _grants(p, TOPIC, "__consumer_offsets", LITERAL, ("READ", "DESCRIBE"))  # ops: commit times
    out |= _grants(p, GROUP, settings.router_id, LITERAL, ("READ",))
    out |= _grants(p, GROUP, app, PREFIXED, ("READ",))
    for group in naming.ROUTER_READER_GROUPS:
        out |= _grants(p, GROUP, group, LITERAL, ("READ",))
    out |= _grants(p, GROUP, "*", LITERAL, ("DESCRIBE",))  # ops: every subscriber's lag
    out |= _grants(p, CLUSTER, CLUSTER_NAME, LITERAL, ("DESCRIBE", "IDEMPOTENT_WRITE"))
    return out


def connect_grants(settings: Settings) -> set[Grant]:
    """Kafka Connect's own topics and group; what Debezium writes (raw, heartbeat, notification
    and MariaDB schema-history topics)."""
    p = user(settings.kafka_connect_user)
    out: set[Grant] = set()
    for topic in (naming.CONNECT_CONFIG_TOPIC, naming.CONNECT_OFFSET_TOPIC, naming.CONNECT_STATUS_TOPIC):
        out |= _grants(p, TOPIC, topic, LITERAL, ("READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"))
    out |= _grants(p, TOPIC, naming.RAW_PREFIX, PREFIXED, ("WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"))
    out |= _grants(p, TOPIC, naming.DEBEZIUM_HEARTBEAT_PREFIX, PREFIXED, ("WRITE", "DESCRIBE", "CREATE"))
    out |= _grants(p, TOPIC, naming.NOTIFICATIONS_PREFIX, PREFIXED, ("WRITE", "DESCRIBE", "CREATE"))
    out |= _grants(p, TOPIC, naming.SCHEMA_HISTORY_PREFIX, PREFIXED, ("READ", "WRITE", "DESCRIBE", "CREATE"))
    out |= _grants(p, GROUP, settings.connect_group_id, LITERAL, ("READ",))
    # Debezium's schema-history readers (naming.schema_history_group), when a MariaDB task restarts
    out |= _grants(p, GROUP, naming.RAW_PREFIX, PREFIXED, ("READ",))
    out |= _grants(p, CLUSTER, CLUSTER_NAME, LITERAL, ("DESCRIBE", "DESCRIBE_CONFIGS", "IDEMPOTENT_WRITE"))
    return out


def service_grants(settings: Settings) -> set[Grant]:
    """The bus's own principals (the admin is a super user and needs none)."""
    return router_grants(settings) | connect_grants(settings)


def desired_grants(
    settings: Settings,
    entitled: dict[str, list[str]],
    recipients: Iterable[str] = (),
    departments: Iterable[str] = (),
) -> set[Grant]:
    """Every grant: the services' and, per subscriber, its entitled topics (`subscriber → topics`);
    each of `recipients` (the catalog's subscribers and departments) reads its notices, and each
    of `departments` its quality feedback."""
    out = service_grants(settings)
    for subscriber, topics in entitled.items():
        out |= subscriber_grants(subscriber, topics)
    for recipient in recipients:
        out |= notice_grants(recipient)
    for department in departments:
        out |= feedback_grants(department)
    return out


def feedback_grants(department: str) -> set[Grant]:
    """A department reads its own quality feedback, `feedback.<department>`, in its own group."""
    principal = user(department)
    out = _grants(principal, TOPIC, naming.feedback_topic(department), LITERAL, ("READ", "DESCRIBE"))
    return out | _grants(principal, GROUP, naming.feedback_group(department), LITERAL, ("READ",))


def notice_grants(recipient: str) -> set[Grant]:
    """A subscriber or department reads its own notification topic, `notice.<recipient>` (its
    demands' transitions) — also once its last demand has ended: that is when it is told."""
    principal = user(recipient)
    out = _grants(principal, TOPIC, naming.notice_topic(recipient), LITERAL, ("READ", "DESCRIBE"))
    return out | _grants(principal, GROUP, naming.notice_group(recipient), LITERAL, ("READ",))


def is_subscriber_grant(grant: Grant) -> bool:
    """A grant on a subscriber topic or a subscriber group: the kind `acl sync` owns for any principal."""
    if grant.resource == TOPIC:  # its own prefix, or a literal topic of the per-resource layout
        own = (naming.notice_topic(grant.user), naming.feedback_topic(grant.user))
        if grant.pattern == LITERAL and grant.name in own:
            return True
        if grant.pattern == PREFIXED:
            return grant.name == naming.share_prefix(grant.user)
        return grant.name.startswith(naming.SHARE_PREFIX)
    if grant.resource != GROUP:
        return False
    if grant.pattern == LITERAL:
        return grant.name in (naming.notice_group(grant.user), naming.feedback_group(grant.user))
    return grant.pattern == PREFIXED and grant.name == naming.subscriber_group_prefix(grant.user)
