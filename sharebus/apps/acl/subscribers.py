"""Subscriber credentials: create, rotate and disable a district's SCRAM login, with its client config."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sharebus.apps.acl.broker import Broker
from sharebus.apps.acl.grants import refuse_bus_users
from sharebus.apps.acl.sync import AclPlan, entitled_topics, recipients_of, sync_subscriber
from sharebus.catalog.models import Catalog
from sharebus.core.audit import CREDENTIAL_CREATE, CREDENTIAL_DISABLE, CREDENTIAL_ROTATE, AuditLog, event
from sharebus.core.errors import ConfigError
from sharebus.core.kafka_clients import MECHANISM, tls_ca
from sharebus.core.settings import Settings


@dataclass(frozen=True)
class ClientConfig:
    """What a district needs to read its topics; the password is shown once and kept nowhere."""

    subscriber: str
    bootstrap: str
    security_protocol: str
    mechanism: str
    username: str
    password: str
    topics: tuple[str, ...]
    group_prefix: str
    registry_url: str = ""  # the schema registry: the same login reads the subjects of its topics
    ca_pem: str = ""  # SASL_SSL: the CA the brokers' certificates are verified against

    def _tls_properties(self, prefix: str = "") -> list[str]:
        # Java's inline PEM truststore (KIP-651): one certificate over continued lines.
        if not self.ca_pem:
            return []
        lines = self.ca_pem.strip().splitlines()
        return [
            f"{prefix}ssl.endpoint.identification.algorithm=https",
            f"{prefix}ssl.truststore.type=PEM",
            f"{prefix}ssl.truststore.certificates=" + " \\\n    ".join(lines),
        ]

    def properties(self) -> str:
        """A Java/librdkafka-style client properties file."""
        lines = [
            f"# sharebus client config for {self.subscriber}: keep it secret; it is not stored anywhere",
            f"bootstrap.servers={self.bootstrap}",
            f"security.protocol={self.security_protocol}",
            f"sasl.mechanism={self.mechanism}",
            f"sasl.username={self.username}",
            f"sasl.password={self.password}",
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{self.username}" password="{self.password}";',
            *(["# the bus's certificate authority: brokers are verified against it"] if self.ca_pem else []),
            *self._tls_properties(),
            *(
                [
                    f"schema.registry.url={self.registry_url}",
                    "basic.auth.credentials.source=USER_INFO",
                    f"basic.auth.user.info={self.username}:{self.password}",
                    *(
                        self._tls_properties("schema.registry.")
                        if self.registry_url.startswith("https://")
                        else []
                    ),
                ]
                if self.registry_url
                else []
            ),
            f"# consumer groups must start with: {self.group_prefix}",
            *(f"# topic: {t}" for t in self.topics),
        ]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscriber": self.subscriber,
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
            "sasl.mechanism": self.mechanism,
            "sasl.username": self.username,
            "sasl.password": self.password,
            # librdkafka (confluent-kafka) takes the CA inline as `ssl.ca.pem`
            **(
                {"ssl.endpoint.identification.algorithm": "https", "ssl.ca.pem": self.ca_pem}
                if self.ca_pem
                else {}
            ),
            "topics": list(self.topics),
            "group_prefix": self.group_prefix,
            "schema.registry.url": self.registry_url,
            # confluent-kafka's SchemaRegistryClient takes it as `basic.auth.user.info`
            "schema.registry.basic.auth.user.info": f"{self.username}:{self.password}",
        }


@dataclass(frozen=True)
class CredentialChange:
    action: str
    config: ClientConfig | None
    acl: AclPlan


def _require_known(catalog: Catalog, subscriber: str) -> None:
    known = recipients_of(catalog)
    if subscriber not in known:
        raise ConfigError(
            f"subscriber {subscriber}",
            "is not in the catalog",
            expected=f"one of {len(known)} subscribers or departments (districts.csv codes, region.yaml"
            " subscribers, demand subscribers, catalog.yaml departments)",
            actual=subscriber,
            fix="check the id (`sharebus catalog show`), or add it to the catalog and publish it first",
        )


def _config(settings: Settings, subscriber: str, password: str, topics: list[str]) -> ClientConfig:
    return ClientConfig(
        subscriber,
        settings.kafka_public_bootstrap,
        settings.kafka_security_protocol,
        MECHANISM,
        subscriber,
        password,
        tuple(sorted(topics)),
        f"{subscriber}.",
        settings.registry_url,
        ca.read_text() if (ca := tls_ca(settings)) is not None else "",
    )


def _require_secure(settings: Settings) -> None:
    if not settings.kafka_secure:
        raise ConfigError(
            "SHAREBUS_KAFKA_SECURITY_PROTOCOL",
            "subscriber credentials need SASL",
            expected="SASL_SSL",
            actual=settings.kafka_security_protocol,
            fix="unset SHAREBUS_KAFKA_SECURITY_PROTOCOL (SASL is the default) and restart the stack",
        )


def add(
    settings: Settings, catalog: Catalog, subscriber: str, *, broker: Broker | None = None
) -> CredentialChange:
    """A new SCRAM login for `subscriber`, and its grants; refuses one that exists (rotate it)."""
    _require_secure(settings)
    refuse_bus_users(settings, [subscriber])  # before the broker is asked anything
    _require_known(catalog, subscriber)
    broker = broker or Broker(settings)
    if subscriber in broker.users():
        raise ConfigError(
            f"subscriber {subscriber}",
            "already has credentials",
            fix=f"`sharebus subscriber rotate {subscriber}` issues a new password",
        )
    return _set(settings, catalog, subscriber, broker, CREDENTIAL_CREATE)


def rotate(
    settings: Settings, catalog: Catalog, subscriber: str, *, broker: Broker | None = None
) -> CredentialChange:
    """A new password for `subscriber`; the old one stops working (sessions re-authenticate)."""
    _require_secure(settings)
    refuse_bus_users(settings, [subscriber])  # before the broker is asked anything
    broker = broker or Broker(settings)
    if subscriber not in broker.users():
        raise ConfigError(
            f"subscriber {subscriber}",
            "has no credentials to rotate",
            fix=f"`sharebus subscriber add {subscriber}` creates them",
        )
    _require_known(catalog, subscriber)
    return _set(settings, catalog, subscriber, broker, CREDENTIAL_ROTATE)


def _set(
    settings: Settings, catalog: Catalog, subscriber: str, broker: Broker, action: str
) -> CredentialChange:
    password = secrets.token_urlsafe(24)
    broker.set_password(subscriber, password)
    topics = entitled_topics(catalog, datetime.now(UTC)).get(subscriber, [])
    acl = sync_subscriber(settings, broker, catalog, subscriber, topics)
    config = _config(settings, subscriber, password, topics)
    _audit(settings, action, subscriber, catalog, {"mechanism": MECHANISM, "topics": len(config.topics)})
    return CredentialChange(action, config, acl)


def _audit(
    settings: Settings, action: str, subscriber: str, catalog: Catalog, detail: dict[str, object]
) -> None:
    """One credential event about `subscriber`, under the catalog version in force."""
    AuditLog(settings).write(
        [
            event(
                settings,
                action,
                subscriber,
                f"User:{subscriber}",
                catalog_version=catalog.version,
                detail=detail,
            )
        ]
    )


def disable(
    settings: Settings, catalog: Catalog, subscriber: str, *, broker: Broker | None = None
) -> CredentialChange:
    """No login and no grant left for `subscriber` (its topics stay; `add` re-enables it)."""
    _require_secure(settings)
    refuse_bus_users(settings, [subscriber])  # before the broker is asked anything
    broker = broker or Broker(settings)
    had_login = subscriber in broker.users()
    if had_login:
        broker.delete_user(subscriber)
    acl = sync_subscriber(settings, broker, catalog, subscriber, [], enabled=False)
    if not had_login and not acl.changed:
        raise ConfigError(
            f"subscriber {subscriber}",
            "has neither credentials nor grants: nothing to disable",
            fix="check the id (`sharebus acl show --json`)",
        )
    _audit(
        settings,
        CREDENTIAL_DISABLE,
        subscriber,
        catalog,
        {"login_deleted": had_login, "grants_removed": len(acl.remove)},
    )
    return CredentialChange(CREDENTIAL_DISABLE, None, acl)
