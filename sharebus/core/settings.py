"""The one settings model: every knob of sharebus, read from `SHAREBUS_*` environment variables."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sharebus.core import naming
from sharebus.core.errors import ConfigError

ENV_PREFIX = "SHAREBUS_"
ClientProperties = Annotated[dict[str, str], NoDecode]
"""Extra librdkafka properties (read from JSON or `key=value,…`, not pydantic's JSON-only decoding)."""


class Settings(BaseSettings):
    """All settings; each field's env name is `SHAREBUS_<FIELD NAME UPPER-CASED>`.

    The local stack (`sharebus stack up`), docker-compose.yml and every client read these same
    names, so one environment describes one deployment.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- deployment --------------------------------------------------------------------------
    city: str = Field(
        "chongqing",
        description="SHAREBUS_CITY: the city this deployment serves; selects catalog/<city>/.",
    )
    catalog_dir: Path = Field(
        Path("catalog"),
        description="SHAREBUS_CATALOG_DIR: folder holding one sub-folder of catalog files per city.",
    )
    runtime_dir: Path = Field(
        Path(".runtime"),
        description=(
            "SHAREBUS_RUNTIME_DIR: git-ignored folder for fetched jars, data dirs, pid files and"
            " logs of the local stack."
        ),
    )

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        description=(
            "SHAREBUS_KAFKA_BOOTSTRAP: host:port of the Kafka broker; the local stack listens on this port."
        ),
    )
    kafka_public_bootstrap: str = Field(
        "127.0.0.1:9094",
        description=(
            "SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP: host:port districts connect to (the broker's external"
            " SASL listener); printed in subscriber client configs. SHAREBUS_KAFKA_BOOTSTRAP is the"
            " internal listener of the bus's own components."
        ),
    )
    kafka_security_protocol: Literal["SASL_SSL", "SASL_PLAINTEXT", "PLAINTEXT"] = Field(
        "SASL_SSL",
        description=(
            "SHAREBUS_KAFKA_SECURITY_PROTOCOL: SASL_SSL (TLS verified against SHAREBUS_TLS_CA_FILE,"
            " SCRAM-SHA-512 on every listener, ACLs deny by default); SASL_PLAINTEXT (the same"
            " without TLS: records cross the network in clear) or PLAINTEXT (no authentication"
            " either) only as an explicit opt-out, for a network you secure otherwise, with a warning."
        ),
    )
    tls_ca_file: Path | None = Field(
        None,
        description=(
            "SHAREBUS_TLS_CA_FILE: PEM file of the certificate authority that signed the bus's"
            " servers (Kafka, registry, web server, databases); every client verifies them against"
            " it. Unset: ca.pem of SHAREBUS_TLS_DIR, the CA `sharebus stack up` makes."
        ),
    )
    tls_dir: Path | None = Field(
        None,
        description=(
            "SHAREBUS_TLS_DIR: folder of the bus's CA (ca.pem) and its servers' certificates and"
            " keys (<server>.pem, <server>.key: kafka, registry, web, postgres, mariadb). Unset:"
            " <runtime_dir>/tls, where `sharebus stack up` makes them."
        ),
    )
    db_tls: bool = Field(
        True,
        description=(
            "SHAREBUS_DB_TLS: the local stack's PostgreSQL accepts TLS connections only, and the"
            " bus (its own connections, Debezium's, onboarding's) connects to PostgreSQL with"
            " sslmode=verify-full against SHAREBUS_TLS_CA_FILE (a department's URL may name"
            " another CA: ?sslrootcert=FILE). false = an opt-out: no TLS asked."
        ),
    )
    tls_hostnames: str = Field(
        "",
        description=(
            "SHAREBUS_TLS_HOSTNAMES: further host names or addresses (comma-separated) the local"
            " stack's server certificates are valid for, beyond loopback, the Compose service names"
            " and the host of SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP."
        ),
    )
    kafka_admin_user: str = Field(
        "sharebus-admin",
        description=("SHAREBUS_KAFKA_ADMIN_USER: the bus's super user (broker, CLI, registry, `acl sync`)."),
    )
    kafka_admin_password: SecretStr = Field(
        SecretStr("sharebus-admin-local"),
        description="SHAREBUS_KAFKA_ADMIN_PASSWORD: its SCRAM password (never logged; set in production).",
    )
    kafka_router_user: str = Field(
        "sharebus-router", description="SHAREBUS_KAFKA_ROUTER_USER: principal of the router workers."
    )
    kafka_router_password: SecretStr = Field(
        SecretStr("sharebus-router-local"),
        description="SHAREBUS_KAFKA_ROUTER_PASSWORD: its SCRAM password (never logged).",
    )
    kafka_connect_user: str = Field(
        "sharebus-connect",
        description="SHAREBUS_KAFKA_CONNECT_USER: principal of Kafka Connect and its Debezium connectors.",
    )
    kafka_connect_password: SecretStr = Field(
        SecretStr("sharebus-connect-local"),
        description=(
            "SHAREBUS_KAFKA_CONNECT_PASSWORD: its SCRAM password; Connect reads it from the secrets"
            " dir, never from a config in clear."
        ),
    )
    kafka_user: str | None = Field(
        None,
        description=(
            "SHAREBUS_KAFKA_USER: principal of district-side commands (`sharebus district sync`),"
            " e.g. the subscriber id; unset = SHAREBUS_KAFKA_ADMIN_USER."
        ),
    )
    kafka_password: SecretStr | None = Field(
        None, description="SHAREBUS_KAFKA_PASSWORD: the SCRAM password of SHAREBUS_KAFKA_USER."
    )
    audit_topic: str = Field(
        naming.DEFAULT_AUDIT_TOPIC,
        description=(
            "SHAREBUS_AUDIT_TOPIC: append-only topic of withheld-data decisions, ACL and credential changes."
        ),
    )
    kafka_controller_port: int = Field(
        9093, description="SHAREBUS_KAFKA_CONTROLLER_PORT: KRaft controller port of the local stack."
    )
    kafka_heap: str = Field(
        "768m", description="SHAREBUS_KAFKA_HEAP: -Xmx/-Xms of each local Kafka broker JVM."
    )
    kafka_brokers: int = Field(
        1,
        ge=1,
        le=5,
        description=(
            "SHAREBUS_KAFKA_BROKERS: KRaft nodes (broker + controller) the local stack runs: 1, or 3"
            " for a cluster. Node i listens at the i-th address of SHAREBUS_KAFKA_BOOTSTRAP (and"
            " _PUBLIC_BOOTSTRAP), or, when one is given, at its port + 100·(i−1)."
        ),
    )
    kafka_replication_factor: int | None = Field(
        None,
        ge=1,
        description=(
            "SHAREBUS_KAFKA_REPLICATION_FACTOR: replicas of every topic the bus creates (default: 3"
            " with 3 or more local brokers, else their number; a production cluster: 3)."
        ),
    )
    kafka_min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description=(
            "SHAREBUS_KAFKA_MIN_INSYNC_REPLICAS: min.insync.replicas of those topics (default: the"
            " replication factor − 1, at least 1); producers use acks=all, so a write needs this many."
        ),
    )
    kafka_partitions: int = Field(
        3,
        description="SHAREBUS_KAFKA_PARTITIONS: default partition count of topics the bus creates.",
    )
    kafka_consumer_extra: ClientProperties = Field(
        default_factory=dict,
        description=(
            "SHAREBUS_KAFKA_CONSUMER_EXTRA: librdkafka properties added to every consumer the bus"
            ' makes, as JSON (`{"fetch.max.bytes": 16777216}`) or `key=value` pairs separated by'
            " commas; identity, security and commit properties are refused."
        ),
    )
    kafka_producer_extra: ClientProperties = Field(
        default_factory=dict,
        description=(
            "SHAREBUS_KAFKA_PRODUCER_EXTRA: librdkafka properties added to every producer (e.g."
            " `linger.ms=20,compression.type=zstd`); identity, security and delivery guarantees"
            " (acks, idempotence) are refused."
        ),
    )
    kafka_admin_extra: ClientProperties = Field(
        default_factory=dict,
        description="SHAREBUS_KAFKA_ADMIN_EXTRA: librdkafka properties added to every admin client.",
    )
    kafka_outage_tolerance: float = Field(
        300.0,
        gt=0,
        description=(
            "SHAREBUS_KAFKA_OUTAGE_TOLERANCE: seconds a long-running component (worker, district"
            " sync, backfill follower, `sharebus run`) waits out an unreachable Kafka (a broker"
            " restart, an upgrade) before it stops with an error; nothing is lost either way."
        ),
    )
    db_outage_tolerance: float = Field(
        300.0,
        gt=0,
        description=(
            "SHAREBUS_DB_OUTAGE_TOLERANCE: seconds `district sync` waits for its database to come"
            " back (a restart) before it stops with an error; it resumes at the offsets it stored."
        ),
    )
    allow_default_passwords: bool = Field(
        False,
        description=(
            "SHAREBUS_ALLOW_DEFAULT_PASSWORDS: accept the built-in Kafka passwords with a broker that"
            " is not on loopback (only on a private network, as docker-compose.yml's); otherwise"
            " sharebus refuses to start with them."
        ),
    )

    # --- Kafka Connect -----------------------------------------------------------------------
    connect_url: str = Field(
        "http://127.0.0.1:8083",
        description=(
            "SHAREBUS_CONNECT_URL: Kafka Connect REST endpoint; the local stack's worker listens on"
            " this port."
        ),
    )
    connect_rest_user: str = Field(
        "sharebus-admin",
        description=(
            "SHAREBUS_CONNECT_REST_USER: the login Kafka Connect's REST API requires (HTTP basic auth,"
            " Kafka's BasicAuthSecurityRestExtension); the bus's CLI, worker and stack use it."
        ),
    )
    connect_rest_password: SecretStr = Field(
        SecretStr("sharebus-connect-rest-local"),
        description=(
            "SHAREBUS_CONNECT_REST_PASSWORD: its password (the built-in one is refused beyond a demo bus)."
        ),
    )
    connect_heap: str = Field(
        "768m", description="SHAREBUS_CONNECT_HEAP: -Xmx/-Xms of the local Kafka Connect JVM."
    )
    connect_group_id: str = Field(
        naming.DEFAULT_CONNECT_GROUP,
        description="SHAREBUS_CONNECT_GROUP_ID: group.id of the Kafka Connect distributed worker.",
    )
    connect_secrets_dir: Path | None = Field(
        None,
        description=(
            "SHAREBUS_CONNECT_SECRETS_DIR: directory, as the Connect worker sees it, of one file per"
            " secret, read through Kafka's DirectoryConfigProvider (`${dir:<dir>:<name>}`)."
            " Default: <runtime_dir>/secrets."
        ),
    )
    debezium_poll_interval_ms: int = Field(
        50,
        description=(
            "SHAREBUS_DEBEZIUM_POLL_INTERVAL_MS: Debezium poll.interval.ms (50 gives ~55 ms"
            " commit→topic; Debezium's default 500 gives ~300 ms)."
        ),
    )

    # --- PostgreSQL (department databases of the local stack) --------------------------------
    pg_host: str = Field("127.0.0.1", description="SHAREBUS_PG_HOST: department PostgreSQL host.")
    pg_port: int = Field(
        25432,
        description=(
            "SHAREBUS_PG_PORT: port of the private PostgreSQL cluster (not 5432, so a system cluster"
            " is never touched; below Linux's ephemeral range 32768–60999, where an outgoing"
            " connection of the moment could hold the port and the cluster fail to bind)."
        ),
    )
    pg_user: str = Field("sharebus", description="SHAREBUS_PG_USER: superuser of the private cluster.")
    pg_password: SecretStr = Field(
        SecretStr("sharebus-local"),
        description="SHAREBUS_PG_PASSWORD: password of SHAREBUS_PG_USER (never logged).",
    )
    pg_cdc_user: str = Field(
        "sharebus_cdc",
        description="SHAREBUS_PG_CDC_USER: replication role Debezium connects as.",
    )
    pg_cdc_password: SecretStr = Field(
        SecretStr("sharebus-cdc-local"),
        description=(
            "SHAREBUS_PG_CDC_PASSWORD: password of the CDC role; handed to Connect through the"
            " secrets dir, never in a connector config."
        ),
    )

    # --- MariaDB (department databases of the local stack) -----------------------------------
    mariadb_host: str = Field("127.0.0.1", description="SHAREBUS_MARIADB_HOST: department MariaDB host.")
    mariadb_port: int = Field(
        23306,
        description=(
            "SHAREBUS_MARIADB_PORT: port of the private MariaDB instance (not 3306; below the"
            " ephemeral range, as SHAREBUS_PG_PORT)."
        ),
    )
    mariadb_user: str = Field("root", description="SHAREBUS_MARIADB_USER: admin user of the private MariaDB.")
    mariadb_password: SecretStr = Field(
        SecretStr("sharebus-local"),
        description="SHAREBUS_MARIADB_PASSWORD: password of SHAREBUS_MARIADB_USER (never logged).",
    )
    mariadb_cdc_user: str = Field(
        "sharebus_cdc", description="SHAREBUS_MARIADB_CDC_USER: MariaDB user Debezium connects as."
    )
    mariadb_cdc_password: SecretStr = Field(
        SecretStr("sharebus-cdc-local"),
        description="SHAREBUS_MARIADB_CDC_PASSWORD: password of the MariaDB CDC user (via the secrets dir).",
    )

    # --- schema registry ---------------------------------------------------------------------
    registry_url: str = Field(
        "https://127.0.0.1:8081",
        description=(
            "SHAREBUS_REGISTRY_URL: schema registry speaking the Confluent REST API; subscriber"
            " topics carry its schema ids. https (verified against SHAREBUS_TLS_CA_FILE): the"
            " registry serves its certificate from SHAREBUS_TLS_DIR; http only as an opt-out."
        ),
    )

    # --- policy ------------------------------------------------------------------------------
    pseudonym_key: SecretStr | None = Field(
        None,
        description=(
            "SHAREBUS_PSEUDONYM_KEY: HMAC key (>= 16 bytes) of keyed pseudonyms; required when a"
            " catalog field uses the `pseudonym` mask. Changing it changes every pseudonym."
        ),
    )
    pseudonym_previous_keys: SecretStr | None = Field(
        None,
        description=(
            "SHAREBUS_PSEUDONYM_PREVIOUS_KEYS: the keys SHAREBUS_PSEUDONYM_KEY replaced, comma-separated,"
            " newest first; only `sharebus pseudonyms map` uses them (their pseudonyms → the current key's)."
        ),
    )
    catalog_signing_key: Path | None = Field(
        None,
        description=(
            "SHAREBUS_CATALOG_SIGNING_KEY: the admin's Ed25519 private key (PEM) that signs every"
            " catalog version `catalog publish` writes; set only where the admin publishes. Default"
            " on a demo bus: <runtime>/keys/catalog-signing.pem, made once (`catalog keygen` makes one)."
        ),
    )
    catalog_verify_key: Path | None = Field(
        None,
        description=(
            "SHAREBUS_CATALOG_VERIFY_KEY: the admin's public key (PEM); workers and the registry refuse"
            " a catalog version it does not verify. Default on a demo bus:"
            " <runtime>/keys/catalog-signing.pub.pem."
        ),
    )

    # --- router ------------------------------------------------------------------------------
    router_id: str = Field(
        "sharebus-router",
        description=(
            "SHAREBUS_ROUTER_ID: the router's Faust app id = its consumer group; workers sharing it"
            " split the raw topics' partitions."
        ),
    )
    catalog_topic: str = Field(
        naming.DEFAULT_CATALOG_TOPIC,
        description="SHAREBUS_CATALOG_TOPIC: compacted topic holding the live catalog (the policy).",
    )
    router_batch_size: int = Field(
        2000, description="SHAREBUS_ROUTER_BATCH_SIZE: records routed per batch (at most)."
    )
    router_batch_window: float = Field(
        0.1,
        description="SHAREBUS_ROUTER_BATCH_WINDOW: seconds a partial batch waits before it is routed.",
    )

    # --- metrics -----------------------------------------------------------------------------
    quality_feedback_every: float = Field(
        60.0,
        gt=0,
        description=(
            "SHAREBUS_QUALITY_FEEDBACK_EVERY: seconds between the worker's rounds of quality"
            " feedback to the departments (`feedback.<department>`)."
        ),
    )
    metrics_url: str = Field(
        "chdb:///.runtime/metrics",
        description=(
            "SHAREBUS_METRICS_URL: `chdb:///path` (embedded, default) or"
            " `clickhouse://user:pass@host:8123/db` (a ClickHouse server)."
        ),
    )

    metrics_user: str = Field(
        "default", description="SHAREBUS_METRICS_USER: ClickHouse server user (clickhouse:// URLs)."
    )
    metrics_password: SecretStr = Field(
        SecretStr(""),
        description="SHAREBUS_METRICS_PASSWORD: ClickHouse server password (never logged).",
    )

    # --- worker web server ---------------------------------------------------------------------
    web_host: str = Field(
        "127.0.0.1",
        description=(
            "SHAREBUS_WEB_HOST: address the worker's web server (dashboard, /metrics, query API)"
            " binds; 0.0.0.0 only inside a container."
        ),
    )
    web_port: int = Field(6066, description="SHAREBUS_WEB_PORT: port of the worker's web server.")
    web_tls: bool = Field(
        True,
        description=(
            "SHAREBUS_WEB_TLS: the worker's web server speaks HTTPS with the certificate `web` of"
            " SHAREBUS_TLS_DIR (clients verify it against SHAREBUS_TLS_CA_FILE); false = HTTP, an"
            " opt-out the worker warns about."
        ),
    )
    web_operators: str = Field(
        "",
        description=(
            "SHAREBUS_WEB_OPERATORS: comma-separated Kafka users with the operator role on the worker's"
            " web server (dashboard, ops status, /metrics, the metrics query API); the admin has every role"
        ),
    )
    web_authorities: str = Field(
        "",
        description=(
            "SHAREBUS_WEB_AUTHORITIES: comma-separated Kafka users with the data authority's role on the"
            " worker's web server (the metrics query API; the demand and quality decisions to come)"
        ),
    )
    security_login_refusals: int = Field(
        5,
        ge=1,
        description=(
            "SHAREBUS_SECURITY_LOGIN_REFUSALS: refused logins of one user (registry, web server) within"
            " SHAREBUS_SECURITY_WINDOW that raise a security alert (a warning, a security.alert audit"
            " record)"
        ),
    )
    security_window: float = Field(
        60.0, gt=0, description="SHAREBUS_SECURITY_WINDOW: seconds over which security monitoring counts."
    )
    security_denials: int = Field(
        10,
        ge=1,
        description=(
            "SHAREBUS_SECURITY_DENIALS: operations the broker denies one principal within"
            " SHAREBUS_SECURITY_WINDOW that raise a security alert (read from the broker's authorizer"
            " log, SHAREBUS_KAFKA_AUTHORIZER_LOG)"
        ),
    )
    kafka_authorizer_log: str | None = Field(
        None,
        description=(
            "SHAREBUS_KAFKA_AUTHORIZER_LOG: the broker log file(s) with kafka.authorizer.logger's"
            " denials, as the worker sees them (a glob; comma-separated for several). Default: the"
            " local stack's (<runtime>/logs/kafka*.log); empty: denials are not watched"
        ),
    )
    security_read_records: int = Field(
        100_000,
        ge=1,
        description=(
            "SHAREBUS_SECURITY_READ_RECORDS: records a subscriber's consumer groups may commit past"
            " between two ops samples before its reading can count as unusual (an alert also needs"
            " SHAREBUS_SECURITY_READ_FACTOR times its usual reading)"
        ),
    )
    security_read_factor: float = Field(
        20.0,
        gt=1,
        description=(
            "SHAREBUS_SECURITY_READ_FACTOR: how many times its usual reading per sample a subscriber"
            " must read to raise an unusual-reading alert"
        ),
    )
    web_scrape_token: SecretStr | None = Field(
        None,
        description=(
            "SHAREBUS_WEB_SCRAPE_TOKEN: bearer token that reads /metrics only (Prometheus's"
            " `authorization: credentials:`); unset, only logged-in operators read /metrics"
        ),
    )

    @field_validator("pseudonym_key", "pseudonym_previous_keys", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        """An empty variable (Compose's `${SHAREBUS_PSEUDONYM_KEY:-}`) means unset."""
        return None if value == "" else value

    @field_validator("kafka_consumer_extra", "kafka_producer_extra", "kafka_admin_extra", mode="before")
    @classmethod
    def _client_properties(cls, value: object, info: ValidationInfo) -> object:
        return parse_client_properties(value, f"{ENV_PREFIX}{(info.field_name or '').upper()}")

    @model_validator(mode="after")
    def _no_default_password_beyond_loopback(self) -> Settings:
        if not self.kafka_secure or self.demo:
            return self
        defaults = [
            f"{ENV_PREFIX}{name.upper()}"
            for name in _KAFKA_PASSWORDS
            if getattr(self, name) == type(self).model_fields[name].default
        ]
        if defaults:
            raise ValueError(
                f"Kafka at {self.kafka_bootstrap} is not on loopback, yet {', '.join(defaults)} keep"
                " the built-in password(s) everyone can read in this repository; fix: set them (and the"
                " broker's SCRAM credentials) to secrets of your own (docker-compose.yml: `sharebus stack"
                f" compose-env` writes random ones to .env), or set {ENV_PREFIX}ALLOW_DEFAULT_PASSWORDS=true"
                " on a private network"
            )
        return self

    @model_validator(mode="after")
    def _one_address_per_local_broker(self) -> Settings:
        for name in ("kafka_bootstrap", "kafka_public_bootstrap"):
            addresses = [a.strip() for a in getattr(self, name).split(",") if a.strip()]
            if len(addresses) == 1 and self.kafka_brokers > 1:  # node i at the port + 100·(i−1)
                host, _, port = addresses[0].rpartition(":")
                addresses = [f"{host}:{int(port) + 100 * i}" for i in range(self.kafka_brokers)]
                setattr(self, name, ",".join(addresses))
            elif len(addresses) < self.kafka_brokers:
                raise ValueError(
                    f"{ENV_PREFIX}{name.upper()} lists {len(addresses)} addresses for"
                    f" {ENV_PREFIX}KAFKA_BROKERS={self.kafka_brokers} local brokers; fix: list one per"
                    " broker, or give one address (node i then listens at its port + 100·(i−1))"
                )
        if (
            self.kafka_min_insync_replicas is not None
            and self.kafka_min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                f"{ENV_PREFIX}KAFKA_MIN_INSYNC_REPLICAS={self.kafka_min_insync_replicas} exceeds the"
                f" replication factor {self.replication_factor}: no write could succeed; fix: lower it"
            )
        return self

    # --- derived -----------------------------------------------------------------------------
    @property
    def replication_factor(self) -> int:
        """Replicas of every topic the bus creates."""
        return self.kafka_replication_factor or min(3, self.kafka_brokers)

    @property
    def min_insync_replicas(self) -> int:
        """min.insync.replicas of every topic the bus creates."""
        return self.kafka_min_insync_replicas or max(1, self.replication_factor - 1)

    @property
    def kafka_port(self) -> int:
        return _port_of(self.kafka_bootstrap.split(",")[0], default=9092)

    @property
    def kafka_public_port(self) -> int:
        return _port_of(self.kafka_public_bootstrap.split(",")[0], default=9094)

    @property
    def demo(self) -> bool:
        """A bus where built-ins will do: its broker on loopback, or a private network that says so
        (SHAREBUS_ALLOW_DEFAULT_PASSWORDS). Beyond it, every secret must be the operator's own."""
        return self.allow_default_passwords or _on_loopback(self.kafka_bootstrap)

    @property
    def kafka_secure(self) -> bool:
        return self.kafka_security_protocol != "PLAINTEXT"

    @property
    def kafka_tls(self) -> bool:
        return self.kafka_security_protocol == "SASL_SSL"

    @property
    def tls_home(self) -> Path:
        """Where the CA and the servers' certificates are (SHAREBUS_TLS_DIR, else <runtime>/tls)."""
        return (self.tls_dir or self.runtime_dir / "tls").resolve()

    @property
    def tls_ca(self) -> Path:
        """The CA file clients verify the bus's servers against."""
        return self.tls_ca_file or self.tls_home / "ca.pem"

    def cleartext_warning(self) -> str | None:
        """The warning of an opted-out bus: what crosses the network in clear, and the fix."""
        if self.kafka_tls:
            return None
        return (
            f"{ENV_PREFIX}KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}: Kafka records"
            " cross the network in clear"
            + ("" if self.kafka_secure else ", and no client logs in")
            + "; unset it for SASL_SSL (TLS) unless this network is secured otherwise"
        )

    @property
    def connect_port(self) -> int:
        return urlsplit(self.connect_url).port or 8083

    @property
    def secrets_dir(self) -> Path:
        return self.connect_secrets_dir or (self.runtime_dir / "secrets").resolve()

    def pg_dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for the superuser; the password stays out of logs. With
        SHAREBUS_DB_TLS, TLS with the server's certificate and host name verified (verify-full)."""
        tls = f" sslmode=verify-full sslrootcert={self.tls_ca}" if self.db_tls else ""
        return (
            f"host={self.pg_host} port={self.pg_port} user={self.pg_user}"
            f" password={self.pg_password.get_secret_value()} dbname={dbname}{tls}"
        )

    @property
    def db_ca(self) -> str | None:
        """The CA the bus's own database servers are verified with (None without SHAREBUS_DB_TLS)."""
        return str(self.tls_ca) if self.db_tls else None


_KAFKA_PASSWORDS = (
    "kafka_admin_password",
    "kafka_router_password",
    "kafka_connect_password",
    "connect_rest_password",
)
_LOOPBACK = ("localhost", "::1")
# Properties that carry a client's identity, security or guarantees: the bus sets them, never an extra.
_PROTECTED = re.compile(
    r"^(bootstrap\.servers|security\.protocol|sasl\..*|ssl\..*|group\.id|group\.instance\.id"
    r"|enable\.auto\.commit|enable\.auto\.offset\.store|isolation\.level|enable\.idempotence|acks"
    r"|transactional\.id|client\.id)$"
)


def _on_loopback(bootstrap: str) -> bool:
    hosts = [hp.strip().rpartition(":")[0].strip("[]") or hp.strip() for hp in bootstrap.split(",")]
    return all(h in _LOOPBACK or h.startswith("127.") for h in hosts if h)


def parse_client_properties(value: object, name: str) -> dict[str, str]:
    """Extra librdkafka properties from JSON (an object) or `key=value` pairs separated by commas."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        pairs = {str(k): str(v) for k, v in value.items()}
    else:
        text = str(value).strip()
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"{name} is not valid JSON ({exc}); fix: a JSON object or k=v,k=v") from None
            if not isinstance(loaded, dict):
                raise ValueError(f"{name} must be a JSON object or k=v,k=v")
            pairs = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in loaded.items()}
        else:
            pairs = {}
            for item in filter(None, (p.strip() for p in text.split(","))):
                key, eq, val = item.partition("=")
                if not eq or not key.strip():
                    raise ValueError(f"{name}: {item!r} is not key=value; fix: k=v,k=v or a JSON object")
                pairs[key.strip()] = val.strip()
    refused = sorted(k for k in pairs if _PROTECTED.match(k))
    if refused:
        raise ValueError(
            f"{name} may not set {', '.join(refused)}: the bus sets identity, security and delivery"
            " guarantees itself; fix: remove them"
        )
    return pairs


def _port_of(hostport: str, *, default: int) -> int:
    host, _, port = hostport.rpartition(":")
    return int(port) if host and port.isdigit() else default


def setting_env_names() -> dict[str, str]:
    """Map each settings field to its environment variable name."""
    return {name: f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment (a bad value is a ConfigError
    naming its variable)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _config_error(exc) from None


def _config_error(exc: ValidationError) -> ConfigError:
    problems, fixes = [], []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        message, _, fix = str(error["msg"]).removeprefix("Value error, ").partition("; fix: ")
        if fix:
            fixes.append(fix)
        if not field:  # a check across settings: its message names them (never their values)
            problems.append(message)
            continue
        spec = Settings.model_fields.get(field)
        secret = spec is not None and spec.annotation in (SecretStr, SecretStr | None)
        shown = (
            "(secret)" if secret or "password" in field or "key" in field else repr(error.get("input"))[:80]
        )
        problems.append(f"{ENV_PREFIX}{field.upper()}={shown}: {message}")
    return ConfigError(
        "settings (SHAREBUS_* environment variables, .env)",
        "are refused: sharebus will not start with them",
        actual="; ".join(problems),
        fix="; ".join(fixes)
        or "correct or unset them (README, Settings: every SHAREBUS_* name and its meaning)",
    )


def secret_values(settings: Settings) -> set[str]:
    """Every secret the settings hold (never printed: the CLI scrubs them from every message)."""
    return {
        value.get_secret_value()
        for name in Settings.model_fields
        if isinstance(value := getattr(settings, name), SecretStr) and value.get_secret_value()
    }
