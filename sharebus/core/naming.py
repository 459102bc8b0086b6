"""The naming contract: every topic, group, connector, slot, subject, secret and header name of the bus.

These names are the security boundary: routing writes `share_topic(...)`, the ACLs grant
`share_topic(...)` and `SHARE_PREFIX`, ops and the district side parse them back. Each is made
here and nowhere else (a unit test greps the tree for stray literals).
"""

from __future__ import annotations

# --- Capture: what Debezium writes (the raw side) -------------------------------------------------

RAW = "cdc"
RAW_PREFIX = f"{RAW}."
"""Every raw topic starts with it: `cdc.<department>` (one per capture connector)."""
CONNECTOR_PREFIX = f"{RAW}-"
"""Every capture connector is named `cdc-<department>` (Debezium's schema-history readers use it
as their group prefix too)."""
BUS = "sharebus"
NOTIFICATIONS_PREFIX = f"{BUS}.notifications."
SCHEMA_HISTORY_PREFIX = f"{BUS}.schema-history."
DEBEZIUM_HEARTBEAT_PREFIX = "__debezium-heartbeat."
PG_SIGNAL_TABLE = f"{BUS}.debezium_signal"
PG_HEARTBEAT_TABLE = f"{BUS}.heartbeat"
MARIADB_SIGNAL_TABLE = f"{BUS}_signal"
MARIADB_HEARTBEAT_TABLE = f"{BUS}_heartbeat"


def raw_prefix(department: str) -> str:
    """Debezium's `topic.prefix` (its logical name) for a department: `cdc.<department>`."""
    return f"{RAW_PREFIX}{department}"


def raw_topic(logical_name: str) -> str:
    """The raw topic of a capture connector: its logical name, `cdc.<department>`. Debezium's
    topic router puts the change events of every table the connector captures there (the table
    is in each event's `source`), so a department's tables share one topic's partitions."""
    return logical_name


def raw_table_topic(logical_name: str, table: str) -> str:
    """Debezium's own topic for one table, `cdc.<department>.<schema>.<table>` (`table` is
    `<schema>.<table>` or `<db>.<table>`): the bus's own tables (heartbeat, signal) stay there,
    and so did every captured table before the department topics (`sharebus topics migrate`)."""
    return f"{logical_name}.{table}"


def department_of_raw_prefix(prefix: str) -> str | None:
    """`cdc.<department>` → `<department>`; None for a logical name the bus did not make."""
    return prefix[len(RAW_PREFIX) :] if prefix.startswith(RAW_PREFIX) else None


def department_of_raw_topic(topic: str) -> str:
    """`cdc.<department>[.<schema>.<table>]` → `<department>` ("unknown" for a name without one)."""
    parts = topic.split(".")
    return parts[1] if len(parts) >= 2 else "unknown"


def connector_name(department: str) -> str:
    """The capture connector of a department: `cdc-<department>`."""
    return f"{CONNECTOR_PREFIX}{department}"


def department_of_connector(name: str) -> str | None:
    """`cdc-<department>` → `<department>`; None for a connector the bus did not name."""
    return name[len(CONNECTOR_PREFIX) :] if name.startswith(CONNECTOR_PREFIX) else None


def connector_of_source(source_name: str) -> str:
    """The connector that wrote a record, from its Debezium logical name (`cdc.market` → `cdc-market`)."""
    department = department_of_raw_prefix(source_name)
    return connector_name(department) if department is not None else source_name


def slot_name(department: str) -> str:
    """The PostgreSQL replication slot of a department's connector: `sharebus_<department>`."""
    return f"{BUS}_{department}"


def publication_name(department: str) -> str:
    """The filtered PostgreSQL publication of a department's connector: `sharebus_<department>`."""
    return f"{BUS}_{department}"


def notification_topic(department: str) -> str:
    """Debezium's notifications (snapshot progress), outside the raw-topic namespace."""
    return f"{NOTIFICATIONS_PREFIX}{department}"


def schema_history_topic(department: str) -> str:
    """MariaDB only: the connector's own record of the captured tables' DDL."""
    return f"{SCHEMA_HISTORY_PREFIX}{department}"


def schema_history_group(department: str) -> str:
    """MariaDB only: the group Debezium reads the schema history with when a task (re)starts —
    its default `<topic.prefix>-schemahistory`, under RAW_PREFIX (the Connect principal's ACL)."""
    return f"{raw_prefix(department)}-schemahistory"


def db_password_secret(department: str) -> str:
    """File name of a department database's password in the secrets dir (read by Connect)."""
    return f"{connector_name(department)}.db-password"


def db_truststore_secret(department: str) -> str:
    """File name, in the secrets dir, of the Java truststore (PKCS12) with the CA a MariaDB
    department's server certificate is verified against (Debezium's binlog client reads it)."""
    return f"{connector_name(department)}.truststore.p12"


def db_target_record(department: str) -> str:
    """File name, in the secrets dir, of where onboarding lets the bus log in to a department's
    database (host, port, user, database): the bus logs in nowhere else with that password."""
    return f"{connector_name(department)}.db-target"


# --- Routing: what the router writes --------------------------------------------------------------

SHARE = "share"
SHARE_PREFIX = f"{SHARE}."
"""Every subscriber topic starts with it: `share.<subscriber>.<department>`."""
DLQ = "dlq"
DLQ_PREFIX = f"{DLQ}."


def share_topic(subscriber: str, department: str) -> str:
    """The topic a subscriber reads a department's resources from: `share.<subscriber>.<department>`.

    One topic per (subscriber, department), not per resource: partitions grow with subscribers ×
    departments (3,239 for the whole of Chongqing), not with the thousands of resources. Each
    resource travels under its own Avro record name (`record_subject`), keyed by resource and
    primary key (`schemas.keys.share_key`)."""
    return f"{SHARE_PREFIX}{subscriber}.{department}"


NOTICE_PREFIX = "notice."
"""Notification topics: `notice.<subscriber or department>`."""


def notice_topic(recipient: str) -> str:
    """The transitions of a subscriber's demands (or of the demands for a department's resources):
    `notice.<recipient>`, which that recipient's login alone reads (one literal ACL)."""
    return f"{NOTICE_PREFIX}{recipient}"


def notice_group(recipient: str) -> str:
    """The consumer group a recipient reads its notices in: `<recipient>.notices` (granted with the
    topic, so it stays when the recipient's last demand ends)."""
    return f"{recipient}{GROUP_SEPARATOR}notices"


FEEDBACK_PREFIX = "feedback."
"""Quality feedback topics: `feedback.<department>`."""


def feedback_topic(department: str) -> str:
    """A department's data-quality feedback: `feedback.<department>`, one record per problem kind,
    resource and day (compacted: the day's record is updated in place), which the department's
    login alone reads."""
    return f"{FEEDBACK_PREFIX}{department}"


def feedback_group(department: str) -> str:
    """The consumer group a department reads its feedback in: `<department>.feedback`."""
    return f"{department}{GROUP_SEPARATOR}feedback"


def feedback_key(resource: str, problem: str, day: str) -> str:
    """The key of a feedback record: `<resource>/<problem>/<YYYY-MM-DD>`."""
    return f"{resource}/{problem}/{day}"


def share_prefix(subscriber: str) -> str:
    """`share.<subscriber>.`: every topic of a subscriber starts with it (its prefixed ACL)."""
    return f"{SHARE_PREFIX}{subscriber}."


def parse_share_topic(topic: str) -> tuple[str, str] | None:
    """`share.<subscriber>.<department>` → (subscriber, department); None for any other topic
    (a topic of the per-resource layout before it included)."""
    if not topic.startswith(SHARE_PREFIX):
        return None
    parts = topic[len(SHARE_PREFIX) :].split(".")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def parse_legacy_share_topic(topic: str) -> tuple[str, str] | None:
    """The per-resource layout of earlier versions, `share.<subscriber>.<department>.<name>` →
    (subscriber, resource `<department>.<name>`); None for any other topic (`topics migrate`)."""
    if not topic.startswith(SHARE_PREFIX):
        return None
    parts = topic[len(SHARE_PREFIX) :].split(".")
    return (parts[0], f"{parts[1]}.{parts[2]}") if len(parts) == 3 and all(parts) else None


def dlq_topic(department: str) -> str:
    """A department's dead letters: `dlq.<department>`."""
    return f"{DLQ_PREFIX}{department}"


def department_of_dlq(topic: str) -> str | None:
    return topic[len(DLQ_PREFIX) :] if topic.startswith(DLQ_PREFIX) else None


def value_subject(topic: str) -> str:
    """The registry subject of a topic's values (TopicNameStrategy): `<topic>-value` (the
    per-resource layout's subjects; the bus's own topics)."""
    return f"{topic}-value"


def record_subject(record: str) -> str:
    """The registry subject of a resource's values on every subscriber topic (RecordNameStrategy):
    the record's full name — what confluent-kafka's `record_subject_name_strategy` and Connect's
    `RecordNameStrategy` compute. One subject per resource (4,154 for the city), whose versions are
    its projections, not one per subscriber and resource (~100,000 subjects to register)."""
    return record


def catalog_derived_prefix(catalog_topic: str) -> str:
    """Topics kept beside the catalog topic start with `<catalog topic>.` (the router reads them)."""
    return f"{catalog_topic}."


def entitlements_topic(catalog_topic: str) -> str:
    """The compacted record of what the workers last enforced (per city, every (subscriber,
    resource) in force): `<catalog topic>.entitlements`. A worker starting after a revocation
    compares against it, so a withdrawal is never missed."""
    return f"{catalog_derived_prefix(catalog_topic)}entitlements"


def keys_topic(catalog_topic: str) -> str:
    """The compacted key index of the resources a consistency rule references (key: resource and
    key value; a tombstone when the row is gone): `<catalog topic>.keys`. The router writes it as
    it routes, and every worker rebuilds its index from it when it starts."""
    return f"{catalog_derived_prefix(catalog_topic)}keys"


def objections_topic(catalog_topic: str) -> str:
    """The compacted record of every objection (疑义) and where it stands, keyed by its id:
    `<catalog topic>.objections` (the worker writes it; every worker follows it)."""
    return f"{catalog_derived_prefix(catalog_topic)}objections"


def objection_feedback_key(resource: str, objection_id: str) -> str:
    """An objection's record on its department's feedback topic: `<resource>/objection/<id>`."""
    return f"{resource}/objection/{objection_id}"


def backfills_topic(catalog_topic: str) -> str:
    """The compacted log of backfill jobs: `<catalog topic>.backfills`."""
    return f"{catalog_derived_prefix(catalog_topic)}backfills"


def demand_requests_topic(catalog_topic: str) -> str:
    """Workflow steps the worker's web API accepted, for the admin's demand desk to take:
    `<catalog topic>.demand-requests` (the router writes it; keyed by request id)."""
    return f"{catalog_derived_prefix(catalog_topic)}demand-requests"


def demand_outcomes_topic(catalog_topic: str) -> str:
    """The desk's answer to each request, keyed by its id: `<catalog topic>.demand-outcomes`
    (the admin writes it; the worker reads the answers it waits for)."""
    return f"{catalog_derived_prefix(catalog_topic)}demand-outcomes"


AVRO_TYPE_PROPERTY = f"{BUS}.type"
"""Avro field property: the catalog type behind an Avro type (e.g. "decimal" behind a string)."""
AVRO_MASK_PROPERTY = f"{BUS}.mask"
"""Avro field property, present when the field carries a masked value: the mask kind."""
SCHEMAS_TOPIC = f"_{BUS}_schemas"
"""The registry's compacted store of schemas and ids."""
DEFAULT_CATALOG_TOPIC = f"{BUS}.catalog"
DEFAULT_AUDIT_TOPIC = f"{BUS}.audit"


def audit_transactional_id(audit_topic: str) -> str:
    """The transactional id every audit writer uses: a writer's `init_transactions` fences the
    others, so one writer at a time links records to the chain's tail (`sharebus.core.audit`)."""
    return f"{audit_topic}.chain"


# --- Groups -----------------------------------------------------------------------------------------

GROUP_SEPARATOR = "."


def app_prefix(router_id: str) -> str:
    """The Faust app `<router id>.app` and its internal topics and groups start with `<router id>.`."""
    return f"{router_id}{GROUP_SEPARATOR}"


def faust_app_id(router_id: str) -> str:
    """The Faust app hosting a router (its internal topics and groups start with `<router id>.`)."""
    return f"{app_prefix(router_id)}app"


def subscriber_group_prefix(subscriber: str) -> str:
    """A subscriber's consumers use groups named `<subscriber>.<anything>` (the prefix it is granted)."""
    return f"{subscriber}{GROUP_SEPARATOR}"


def sync_group(subscriber: str) -> str:
    """The group `sharebus district sync` commits for lag tooling: `<subscriber>.sync`."""
    return f"{subscriber_group_prefix(subscriber)}sync"


def subscriber_of_group(group: str) -> str | None:
    """`<subscriber>.<anything>` → `<subscriber>` (the rule subscribers' groups follow); else None."""
    head, dot, _ = group.partition(GROUP_SEPARATOR)
    return head if dot else None


# Assign-only readers (they never join or commit, but still fetch committed offsets under a group).
CATALOG_FOLLOWER_GROUP = f"{BUS}-catalog"
CATALOG_READER_GROUP = f"{BUS}-catalog-reader"
OPS_COMMITS_GROUP = f"{BUS}-ops-commits"
OPS_READER_GROUP = f"{BUS}-ops-reader"
OBJECTIONS_FOLLOWER_GROUP = f"{BUS}-objections"
"""Every worker's reader of the objections topic (assign() only, never committed)."""
KEYS_FOLLOWER_GROUP = f"{BUS}-keys"
"""Every worker's reader of the keys topic (assign() only, never committed)."""
WITHDRAW_READER_GROUP = f"{BUS}-withdraw-reader"
"""The worker's reader of a subscriber topic when a resource is withdrawn (the keys to tombstone)."""
DEMAND_OUTCOME_READER_GROUP = f"{BUS}-demand-outcomes"
"""The worker's reader of the demand desk's answers (assign() only)."""
DEMAND_DESK_GROUP = f"{BUS}-demand-desk"
"""The admin's demand desk: its position in the requests topic (committed once a request is answered)."""
AUDIT_CHAIN_GROUP = f"{BUS}-audit-chain"
"""The audit writers' reader of the chain's tail (assigned, never committed)."""
ROUTER_READER_GROUPS = (
    AUDIT_CHAIN_GROUP,
    KEYS_FOLLOWER_GROUP,
    OBJECTIONS_FOLLOWER_GROUP,
    CATALOG_FOLLOWER_GROUP,
    CATALOG_READER_GROUP,
    OPS_COMMITS_GROUP,
    OPS_READER_GROUP,
    WITHDRAW_READER_GROUP,
    DEMAND_OUTCOME_READER_GROUP,
)
AUDIT_READER_GROUP = f"{BUS}-audit-reader"
BACKFILL_READER_GROUP = f"{BUS}-backfill-reader"
BACKFILL_VERIFY_GROUP = f"{BUS}-backfill-verify"
RUN_WATCH_GROUP = f"{BUS}-run-watch"
MIGRATE_READER_GROUP = f"{BUS}-migrate-reader"
"""`sharebus topics migrate`'s reader (assign() only)."""
TEST_PROBE_GROUP = f"{BUS}-test-probe"
"""The testing kit's assign-only reader of end offsets."""


def notification_reader_group(token: str) -> str:
    """A one-off reader of Debezium's notifications (assign() only)."""
    return f"{BUS}-notify-{token}"


def registry_reader_group(token: str) -> str:
    """A registry instance's reader of its schema topic (assign() only)."""
    return f"{BUS}-registry-{token}"


def registry_transactional_id(schemas_topic: str) -> str:
    """One writer of a registry's schema topic at a time: the transactional id fences the previous one."""
    return f"{BUS}-registry-{schemas_topic}"


# --- Kafka Connect's own topics and secrets (the local stack and docker-compose.yml) ---------------

DEFAULT_CONNECT_GROUP = f"{BUS}-connect"
"""The Kafka Connect worker's group (SHAREBUS_CONNECT_GROUP_ID); its internal topics follow."""
CONNECT_CONFIG_TOPIC = f"{BUS}-connect-configs"
CONNECT_OFFSET_TOPIC = f"{BUS}-connect-offsets"
CONNECT_STATUS_TOPIC = f"{BUS}-connect-statuses"
CONTAINER_SECRETS_DIR = "/run/sharebus/secrets"
CONTAINER_TLS_DIR = "/run/sharebus/tls"
"""Where docker-compose.yml's tls volume (the CA and the servers' certificates) is mounted."""
CONNECT_PASSWORD_SECRET = "kafka-connect-password"
KAFKA_PROTOCOL_SECRET = "kafka-security-protocol"
"""The bus's Kafka security protocol as connectors read it at each task start (never baked into a
registered config: a config registered before TLS was on would speak plaintext to a TLS listener)."""


def secret_ref(secrets_dir: object, name: str) -> str:
    """A secret as Connect reads it, through Kafka's DirectoryConfigProvider: `${dir:<dir>:<name>}`."""
    return f"${{dir:{secrets_dir}:{name}}}"


# --- Headers on every delivered (and dead-lettered) record ------------------------------------------

H_CONNECTOR = f"{BUS}.source.connector"
H_TOPIC = f"{BUS}.source.topic"
H_PARTITION = f"{BUS}.source.partition"
H_OFFSET = f"{BUS}.source.offset"
H_LSN = f"{BUS}.source.lsn"
H_COMMIT_TS = f"{BUS}.source.commit_ts"
H_POLICY = f"{BUS}.policy.version"
H_OP = f"{BUS}.op"
H_DEMAND = f"{BUS}.demand.id"
H_REASON = f"{BUS}.dlq.reason"
H_CHECK = f"{BUS}.dlq.check"
H_RESOURCE = f"{BUS}.dlq.resource"
H_UNIT = f"{BUS}.dlq.responsible_unit"
H_SHARE_RESOURCE = f"{BUS}.resource"
OP_WITHDRAW = "withdraw"
"""`sharebus.op` of the tombstones written when a resource is withdrawn from a subscriber."""
"""On every record of a subscriber topic: the resource it belongs to (as in its key)."""
H_FAILED_AT = f"{BUS}.dlq.failed_at"
H_PSEUDONYM_KEY = f"{BUS}.pseudonym.key_id"
"""On a delivered record carrying pseudonyms: which key made them (`masks.pseudonym_key_id`)."""

# --- Headers of a catalog version (on the catalog topic) ------------------------------------------

H_CATALOG_SIGNATURE = f"{BUS}.catalog.signature"
"""The admin's Ed25519 signature over the version's record value (base64)."""
H_CATALOG_KEY_ID = f"{BUS}.catalog.key_id"
"""Which key signed it (`sharebus.core.signing.key_id`)."""

# --- The district side (PostgreSQL names in a district's database) ---------------------------------

DISTRICT_META_PREFIX = f"{BUS}_"
"""Columns the sync adds to each table start with this; catalog fields may not."""
DISTRICT_OFFSETS_TABLE = f"{BUS}_sync_offsets"


def district_schema(subscriber: str) -> str:
    """A subscriber's default schema (before identifier cleaning): `share_<subscriber>`."""
    return f"{SHARE}_{subscriber}"
