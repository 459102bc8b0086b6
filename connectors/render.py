"""Render a department's Debezium connector config from the templates in `connectors/templates/`."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from sharebus.core import naming
from sharebus.core.errors import ConfigError
from sharebus.core.kafka_clients import (
    Role,
    connect_password_ref,
    connect_protocol_ref,
    java_client_properties,
)
from sharebus.core.settings import Settings

POSTGRES = "postgres"
MARIADB = "mariadb"
KINDS = (POSTGRES, MARIADB)
CONNECTOR_CLASSES = {
    POSTGRES: "io.debezium.connector.postgresql.PostgresConnector",
    MARIADB: "io.debezium.connector.mariadb.MariaDbConnector",
}

# Department ids become topic prefixes, replication slot and publication names: keep them to
# what PostgreSQL slot names allow (lower-case letters, digits, underscore).
_DEPARTMENT_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")

# Captured with every PostgreSQL department's tables: Debezium's signal channel and the heartbeat
# target, in the department database's `sharebus` schema.
BUS_TABLES = (naming.PG_SIGNAL_TABLE, naming.PG_HEARTBEAT_TABLE)
# MariaDB has no schemas: the same two tables live in the department's own database (a shared
# `sharebus` database would make every connector on the server act on every signal).
MARIADB_SIGNAL_TABLE = naming.MARIADB_SIGNAL_TABLE
MARIADB_HEARTBEAT_TABLE = naming.MARIADB_HEARTBEAT_TABLE
# Debezium's property keying a table's messages by other columns than its primary key.
MESSAGE_KEY_COLUMNS = "message.key.columns"
# Keys `--set` may not override: they carry the connector's identity, names and secrets.
PROTECTED_KEYS = frozenset(
    {
        "name",
        "connector.class",
        "topic.prefix",
        "slot.name",
        "publication.name",
        "table.include.list",
        "database.include.list",
        "database.user",
        "database.hostname",
        "database.port",
        "database.dbname",
        "signal.data.collection",
        "notification.sink.topic.name",
        "schema.history.internal.kafka.topic",
        MESSAGE_KEY_COLUMNS,  # the catalog's primary_key, checked at onboarding (`message_keys`)
        "transforms",  # the topic router (`topic_routing`): every `transforms.*` key is refused
    }
)
MASK_LENGTH = 12
# MariaDB Connector/J's CA file (Debezium hands `database.*` keys to the driver).
MARIADB_CA = "database.serverSslCert"
# The truststore holds only the (public) CA certificate: its password guards integrity, not secrecy.
TRUSTSTORE_PASSWORD = "sharebus-public-ca"


@dataclass(frozen=True)
class CaptureSpec:
    """What to capture from one department database."""

    department: str
    db_name: str
    tables: tuple[str, ...]  # schema.table (PostgreSQL) or database.table (MariaDB)
    db_host: str
    db_port: int
    db_user: str
    snapshot_mode: str = "initial"
    kind: str = POSTGRES
    exclude_columns: tuple[str, ...] = ()  # schema.table.column, never read from the source
    mask_columns: tuple[str, ...] = ()  # schema.table.column, replaced by asterisks at the source
    overrides: tuple[tuple[str, str], ...] = ()  # extra Debezium properties (`--set key=value`)
    db_ca: str | None = None  # PostgreSQL: TLS verify-full against this CA file; None: no TLS asked
    # Tables keyed by the catalog's primary_key rather than their own (Debezium message.key.columns)
    key_columns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if not _DEPARTMENT_ID.match(self.department):
            raise ConfigError(
                f"department {self.department!r}",
                "is not a valid department id",
                expected="lower-case letters, digits and underscores, starting with a letter",
                actual=self.department,
                fix="choose an id like `market` or `real_estate`",
            )
        if self.kind not in KINDS:
            raise ConfigError(
                f"capture of {self.department}",
                f"unknown database kind {self.kind!r}",
                expected=" or ".join(KINDS),
                fix="use a postgresql:// or mariadb:// URL",
            )
        bad = [t for t in self.tables if not _TABLE.match(t)]
        if bad or not self.tables:
            raise ConfigError(
                f"tables of department {self.department}",
                "must be schema-qualified table names",
                expected="schema.table, e.g. public.enterprise",
                actual=", ".join(bad) or "(none)",
                fix="list tables as --tables public.t1,public.t2",
            )
        self._check_columns()
        for key, _ in self.overrides:
            if key in PROTECTED_KEYS or key.startswith("transforms.") or "password" in key.lower():
                raise ConfigError(
                    f"--set {key}",
                    "may not be overridden",
                    expected="a Debezium property other than " + ", ".join(sorted(PROTECTED_KEYS)),
                    actual=key,
                    fix="use the dedicated option (--tables, --db) or drop it",
                )

    def _check_columns(self) -> None:
        for option, columns in (
            ("--exclude-column", self.exclude_columns),
            ("--mask-column", self.mask_columns),
        ):
            for column in columns:
                table = column.rpartition(".")[0]
                if not _COLUMN.match(column) or table not in self.tables:
                    raise ConfigError(
                        f"{option} {column}",
                        "does not name a column of a captured table",
                        expected="schema.table.column of a table in --tables",
                        actual=column,
                        fix="qualify the column with one of: " + ", ".join(self.tables),
                    )

        for table, cols in self.key_columns:
            if table not in self.tables or not cols or not all(_COLUMN.match(f"{table}.{c}") for c in cols):
                raise ConfigError(
                    f"message key of {table}",
                    "does not name columns of a captured table",
                    expected="schema.table:column[,column] of a table in --tables",
                    actual=f"{table}:{','.join(cols)}",
                    fix="onboard again with `sharebus connectors add` (it takes the key from the catalog)",
                )

    @property
    def connector_class(self) -> str:
        return CONNECTOR_CLASSES[self.kind]

    @property
    def connector_name(self) -> str:
        return naming.connector_name(self.department)

    @property
    def slot_name(self) -> str:
        return naming.slot_name(self.department)

    @property
    def publication_name(self) -> str:
        return naming.publication_name(self.department)

    @property
    def password_secret(self) -> str:
        """File name of the DB password in the secrets dir (read by Connect, never inlined)."""
        return naming.db_password_secret(self.department)

    @property
    def topic_prefix(self) -> str:
        return naming.raw_prefix(self.department)

    @property
    def raw_topic(self) -> str:
        """Where the change events of every table it captures arrive (Debezium's topic router)."""
        return naming.raw_topic(self.topic_prefix)

    @property
    def notification_topic(self) -> str:
        """Debezium's notifications (snapshot progress), outside the `cdc.` raw-topic namespace."""
        return naming.notification_topic(self.department)

    @property
    def heartbeat_topic(self) -> str:
        """Debezium's heartbeat records (the offsets of a quiet database)."""
        return naming.DEBEZIUM_HEARTBEAT_PREFIX + self.topic_prefix

    @property
    def schema_history_topic(self) -> str:
        """MariaDB only: the connector's own record of the captured tables' DDL."""
        return naming.schema_history_topic(self.department)

    @property
    def signal_table(self) -> str:
        return BUS_TABLES[0] if self.kind == POSTGRES else f"{self.db_name}.{MARIADB_SIGNAL_TABLE}"

    @property
    def heartbeat_table(self) -> str:
        return BUS_TABLES[1] if self.kind == POSTGRES else f"{self.db_name}.{MARIADB_HEARTBEAT_TABLE}"

    @property
    def bus_tables(self) -> tuple[str, str]:
        return (self.signal_table, self.heartbeat_table)

    @property
    def server_id(self) -> int:
        """MariaDB only: the binlog client id, stable per department and far from usual server ids."""
        return 1_000_000 + zlib.crc32(self.department.encode()) % 1_000_000_000


def _template(kind: str) -> dict[str, str]:
    text = (resources.files("connectors") / "templates" / f"{kind}.json").read_text()
    result: dict[str, str] = json.loads(text)
    return result


def render(spec: CaptureSpec, settings: Settings) -> dict[str, str]:
    """The Debezium connector config of `spec`, for its database kind."""
    return render_postgres(spec, settings) if spec.kind == POSTGRES else render_mariadb(spec, settings)


def _common_values(spec: CaptureSpec, settings: Settings) -> dict[str, str]:
    return {
        "db_host": spec.db_host,
        "db_port": str(spec.db_port),
        "db_user": spec.db_user,
        "db_name": spec.db_name,
        "secrets_dir": str(settings.secrets_dir),
        "password_secret": spec.password_secret,
        "department": spec.department,
        "table_include_list": ",".join(_include_list((*spec.tables, *spec.bus_tables))),
        "snapshot_mode": spec.snapshot_mode,
        "poll_interval_ms": str(settings.debezium_poll_interval_ms),
        "partitions": str(settings.kafka_partitions),
        "replication_factor": str(settings.replication_factor),
        "min_insync_replicas": str(settings.min_insync_replicas),
        "notification_topic": spec.notification_topic,
        "signal_table": spec.signal_table,
        "heartbeat_table": spec.heartbeat_table,
    }


def department_topic_regex(logical_name: str, bus_tables: tuple[str, ...]) -> str:
    """Debezium's per-table topics of the connector's captured tables, for its topic router to
    send into the connector's one raw topic (a regex Java and Python read alike, matched against
    the whole name): every `<logical name>.<schema>.<table>` but the bus's own tables (heartbeat
    and signal rows are not the router's to read)."""
    own = "|".join(re.escape(table) for table in bus_tables)
    return f"{re.escape(logical_name)}\\.(?!(?:{own})$).+"


ROUTING_TRANSFORM = "department"


def topic_routing(logical_name: str, bus_tables: tuple[str, ...]) -> dict[str, str]:
    """The connector properties that put every captured table's events on its raw topic:
    Debezium's topic-routing SMT (ByLogicalTableRouter: the MariaDB plugin has no
    ToLogicalTopicRouter yet). Keys stay as the table's primary key (no table field added): the
    router finds the table in each event's `source`, and a key's events still share a partition."""
    prefix = f"transforms.{ROUTING_TRANSFORM}"
    return {
        "transforms": ROUTING_TRANSFORM,
        f"{prefix}.type": "io.debezium.transforms.ByLogicalTableRouter",
        f"{prefix}.topic.regex": department_topic_regex(logical_name, bus_tables),
        f"{prefix}.topic.replacement": naming.raw_topic(logical_name),
        f"{prefix}.key.enforce.uniqueness": "false",
    }


def bus_tables_of(config: Mapping[str, str]) -> tuple[str, str]:
    """The signal and heartbeat tables a registered connector captures (from its config)."""
    if config.get("connector.class") == CONNECTOR_CLASSES[POSTGRES]:
        return BUS_TABLES
    db = config.get("database.include.list", "")
    return (f"{db}.{MARIADB_SIGNAL_TABLE}", f"{db}.{MARIADB_HEARTBEAT_TABLE}")


def render_postgres(spec: CaptureSpec, settings: Settings) -> dict[str, str]:
    """The Debezium PostgreSQL connector config for `spec`; the password is a config-provider
    reference to the secrets dir, never the password itself."""
    values = {
        **_common_values(spec, settings),
        "slot_name": spec.slot_name,
        "publication_name": spec.publication_name,
    }
    config = {key: value.format(**values) for key, value in _template(POSTGRES).items()}
    if spec.db_ca:  # TLS, the server's certificate and host name verified (as the bus's own connections)
        config |= {"database.sslmode": "verify-full", "database.sslrootcert": spec.db_ca}
    return _finish(spec, config)


def render_mariadb(spec: CaptureSpec, settings: Settings) -> dict[str, str]:
    """The Debezium MariaDB connector config for `spec` (binlog, schema history in Kafka)."""
    values = {
        **_common_values(spec, settings),
        "server_id": str(spec.server_id),
        "schema_history_topic": spec.schema_history_topic,
        "kafka_bootstrap": settings.kafka_bootstrap,
    }
    config = {key: value.format(**values) for key, value in _template(MARIADB).items()}
    if spec.db_ca:  # TLS, the certificate and host name verified: JDBC (the CA file) and binlog (truststore)
        config |= {
            "database.ssl.mode": "verify-full",
            "database.ssl.truststore": str(
                settings.secrets_dir / naming.db_truststore_secret(spec.department)
            ),
            "database.ssl.truststore.password": TRUSTSTORE_PASSWORD,
            MARIADB_CA: spec.db_ca,
        }
    # The schema history's own Kafka clients authenticate as Connect (password via the secrets dir).
    password, protocol = connect_password_ref(settings), connect_protocol_ref(settings)
    for client in ("producer", "consumer"):
        prefix = f"schema.history.internal.{client}."
        config |= java_client_properties(settings, Role.CONNECT, password, prefix, protocol_ref=protocol)
    return _finish(spec, config)


def _finish(spec: CaptureSpec, config: dict[str, str]) -> dict[str, str]:
    """The topic router, columns excluded or masked at the source, then the `--set` overrides."""
    config |= topic_routing(spec.topic_prefix, spec.bus_tables)
    if spec.exclude_columns:
        config["column.exclude.list"] = ",".join(_include_list(spec.exclude_columns))
    if spec.mask_columns:
        config[f"column.mask.with.{MASK_LENGTH}.chars"] = ",".join(_include_list(spec.mask_columns))
    if spec.key_columns:
        config[MESSAGE_KEY_COLUMNS] = render_key_columns(spec.key_columns)
    config.update(dict(spec.overrides))
    return config


def render_key_columns(key_columns: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """Debezium's `message.key.columns`: `schema.table:col,col;…` (Debezium orders a key's
    fields as the table declares its columns, whatever the order here)."""
    return ";".join(f"{table}:{','.join(cols)}" for table, cols in key_columns)


def parse_key_columns(value: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`render_key_columns` read back."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for part in filter(None, value.split(";")):
        table, _, cols = part.partition(":")
        out.append((table.strip(), tuple(c.strip() for c in cols.split(",") if c.strip())))
    return tuple(out)


def _include_list(names: tuple[str, ...]) -> list[str]:
    # Debezium's include/exclude lists are lists of regexes: escape the dots.
    return [re.escape(n) for n in dict.fromkeys(names)]
