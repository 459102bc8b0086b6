"""The broker side of access control: read and change ACLs and SCRAM credentials with the admin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from sharebus.apps.acl.grants import CLUSTER, GROUP, LITERAL, PREFIXED, TOPIC, TRANSACTIONAL_ID, Grant
from sharebus.core.errors import AccessError, UnreachableError
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings

SCRAM_ITERATIONS = 8192
_TIMEOUT_S = 30.0
_RESOURCE = {
    TOPIC: ResourceType.TOPIC,
    GROUP: ResourceType.GROUP,
    CLUSTER: ResourceType.BROKER,
    TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID,
}
_PATTERN = {LITERAL: ResourcePatternType.LITERAL, PREFIXED: ResourcePatternType.PREFIXED}
_KIND_OF = {v: k for k, v in _RESOURCE.items()}
_PATTERN_OF = {v: k for k, v in _PATTERN.items()}


def _binding(grant: Grant) -> AclBinding:
    return AclBinding(
        _RESOURCE[grant.resource],
        grant.name,
        _PATTERN[grant.pattern],
        grant.principal,
        "*",
        AclOperation[grant.operation],
        AclPermissionType.ALLOW,
    )


def _filter(grant: Grant) -> AclBindingFilter:
    return AclBindingFilter(
        _RESOURCE[grant.resource],
        grant.name,
        _PATTERN[grant.pattern],
        grant.principal,
        "*",
        AclOperation[grant.operation],
        AclPermissionType.ALLOW,
    )


def _grant(binding: Any) -> Grant | None:
    """The Grant of an ALLOW binding on any host; None for anything `acl sync` does not write."""
    kinds, patterns = _KIND_OF, _PATTERN_OF
    if binding.permission_type != AclPermissionType.ALLOW or binding.host != "*":
        return None
    if binding.restype not in kinds or binding.resource_pattern_type not in patterns:
        return None
    return Grant(
        binding.principal,
        kinds[binding.restype],
        binding.name,
        patterns[binding.resource_pattern_type],
        binding.operation.name,
    )


class Broker:
    """Access-control calls as the super user (SHAREBUS_KAFKA_ADMIN_USER)."""

    def __init__(self, settings: Settings, admin: AdminClient | None = None) -> None:
        self.settings = settings
        self.admin = admin or admin_client(kafka_config(settings))

    def _wait(self, what: str, future: Any) -> Any:
        try:
            return future.result(timeout=_TIMEOUT_S)
        except KafkaException as exc:
            error = exc.args[0]
            text = error.str() if hasattr(error, "str") else str(error)
            if "SECURITY_DISABLED" in str(error) or "No Authorizer" in text:
                raise AccessError(
                    f"Kafka at {self.settings.kafka_bootstrap}",
                    f"{what} failed: the broker has no authorizer",
                    expected="a broker with SASL listeners and StandardAuthorizer",
                    actual=text,
                    fix="unset SHAREBUS_KAFKA_SECURITY_PROTOCOL (SASL_SSL is the default), restart the stack",
                ) from exc
            if "AUTHORIZATION" in str(error).upper() or "AUTHENTICATION" in str(error).upper():
                raise AccessError(
                    f"Kafka principal {self.settings.kafka_admin_user}",
                    f"{what} was refused",
                    actual=text,
                    fix="SHAREBUS_KAFKA_ADMIN_USER must be the broker's super user (super.users)",
                ) from exc
            raise UnreachableError(
                f"Kafka at {self.settings.kafka_bootstrap}",
                f"{what} failed",
                actual=text,
                fix="check Kafka (`sharebus stack status`) and retry",
            ) from exc

    # --- ACLs -------------------------------------------------------------------------------
    def grants(self) -> set[Grant]:
        """Every ALLOW ACL on the broker that a Grant can express."""
        anything: Any = None  # the bindings' stubs say str; None matches any name, principal or host
        any_filter = AclBindingFilter(
            ResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            anything,
            anything,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        future = self.admin.describe_acls(any_filter, request_timeout=_TIMEOUT_S)
        bindings = self._wait("listing ACLs", future)
        return {g for g in (_grant(b) for b in bindings) if g is not None}

    def add(self, grants: Iterable[Grant]) -> None:
        bindings = [_binding(g) for g in sorted(grants)]
        if bindings:
            for future in self.admin.create_acls(bindings, request_timeout=_TIMEOUT_S).values():
                self._wait("creating ACLs", future)

    def remove(self, grants: Iterable[Grant]) -> None:
        filters = [_filter(g) for g in sorted(grants)]
        if filters:
            for future in self.admin.delete_acls(filters, request_timeout=_TIMEOUT_S).values():
                self._wait("deleting ACLs", future)

    # --- SCRAM credentials ------------------------------------------------------------------
    def users(self) -> set[str]:
        """Users holding a SCRAM credential."""
        future = self.admin.describe_user_scram_credentials(request_timeout=_TIMEOUT_S)
        described = self._wait("listing SCRAM users", future)
        return set(described)

    def set_password(self, user: str, password: str) -> None:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        upsert = UserScramCredentialUpsertion(user, info, password.encode())
        futures = self.admin.alter_user_scram_credentials([upsert], request_timeout=_TIMEOUT_S)
        self._wait(f"setting the SCRAM credential of {user}", futures[user])

    def delete_user(self, user: str) -> None:
        deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
        futures = self.admin.alter_user_scram_credentials([deletion], request_timeout=_TIMEOUT_S)
        self._wait(f"deleting the SCRAM credential of {user}", futures[user])
