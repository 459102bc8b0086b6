"""`acl sync`: the broker's ACLs made equal to those derived from the catalog, every change audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sharebus.apps.acl.broker import Broker
from sharebus.apps.acl.grants import (
    Grant,
    desired_grants,
    feedback_grants,
    is_subscriber_grant,
    notice_grants,
    refuse_bus_users,
    service_grants,
    subscriber_grants,
    user,
)
from sharebus.catalog.models import ALL_DISTRICTS, Catalog
from sharebus.core.audit import ACL_GRANT, ACL_REVOKE, AuditLog, event
from sharebus.core.settings import Settings
from streams.policy.entitled import entitled_topics as policy_entitled_topics


@dataclass(frozen=True)
class AclPlan:
    """What `acl sync` changes: grants to add and to remove; `kept` already right; `unmanaged`
    grants of principals sharebus does not own (left alone)."""

    add: tuple[Grant, ...]
    remove: tuple[Grant, ...]
    kept: int
    unmanaged: int

    @property
    def changed(self) -> bool:
        return bool(self.add or self.remove)

    def to_dict(self) -> dict[str, Any]:
        return {
            "add": [g.to_dict() for g in self.add],
            "remove": [g.to_dict() for g in self.remove],
            "kept": self.kept,
            "unmanaged": self.unmanaged,
        }


def subscribers_of(catalog: Catalog) -> set[str]:
    """Every subscriber the catalog knows: its districts, the region's other subscribers (a zone, a
    city department — with a demand or not yet) and the subscribers of its demands."""
    # an all-districts demand's subscribers are the districts
    named = {d.subscriber for d in catalog.demands if d.subscriber != ALL_DISTRICTS}
    return set(catalog.subscriber_ids()) | named


def recipients_of(catalog: Catalog) -> set[str]:
    """Everyone told of demand transitions: the subscribers and the owning departments (a
    department's login, `subscriber add <department>`, reads its notices)."""
    return subscribers_of(catalog) | {d.id for d in catalog.departments}


def entitled_topics(catalog: Catalog, now: datetime) -> dict[str, list[str]]:
    """subscriber → the topics it is entitled to read at `now` (exactly what the router writes;
    every subscriber of the catalog, with none for one entitled to nothing)."""
    entitled = policy_entitled_topics(catalog, now)
    return {s: sorted(entitled.get(s, ())) for s in subscribers_of(catalog) | set(entitled)}


def managed_principals(settings: Settings, catalog: Catalog, current: Iterable[Grant]) -> set[str]:
    """Principals whose every ACL `acl sync` owns: the router, Connect, the catalog's subscribers,
    and anyone holding a subscriber-style grant (a subscriber since removed from the catalog)."""
    owned = {user(settings.kafka_router_user), user(settings.kafka_connect_user)}
    owned |= {user(s) for s in recipients_of(catalog)}
    owned |= {g.principal for g in current if is_subscriber_grant(g)}
    return owned


def plan(current: set[Grant], desired: set[Grant], managed: set[str]) -> AclPlan:
    """Pure: the changes that make the managed principals' grants exactly `desired`."""
    ours = {g for g in current if g.principal in managed}
    return AclPlan(
        add=tuple(sorted(desired - current)),
        remove=tuple(sorted(ours - desired)),
        kept=len(ours & desired),
        unmanaged=len(current - ours),
    )


def plan_for(settings: Settings, catalog: Catalog, current: set[Grant], now: datetime) -> AclPlan:
    refuse_bus_users(settings, subscribers_of(catalog))
    departments = [d.id for d in catalog.departments]
    desired = desired_grants(settings, entitled_topics(catalog, now), recipients_of(catalog), departments)
    return plan(current, desired, managed_principals(settings, catalog, current))


def apply(
    settings: Settings,
    broker: Broker,
    changes: AclPlan,
    catalog_version: str | None,
    audit: AuditLog | None = None,
) -> None:
    """Apply `changes`, then audit each grant added and removed."""
    broker.remove(changes.remove)
    broker.add(changes.add)
    done = [(ACL_REVOKE, g) for g in changes.remove] + [(ACL_GRANT, g) for g in changes.add]
    (audit or AuditLog(settings)).write(
        event(settings, action, g.user, g.name, catalog_version=catalog_version, detail=g.to_dict())
        for action, g in done
    )


def sync(
    settings: Settings, catalog: Catalog, *, dry_run: bool = False, now: datetime | None = None
) -> AclPlan:
    broker = Broker(settings)
    audit = AuditLog(settings)
    if not dry_run:
        audit.open()  # its producer id is fetched while the grants are listed and planned
    changes = plan_for(settings, catalog, broker.grants(), now or datetime.now(UTC))
    if not dry_run and changes.changed:
        apply(settings, broker, changes, catalog.version, audit)
    return changes


def sync_subscriber(
    settings: Settings,
    broker: Broker,
    catalog: Catalog,
    subscriber: str,
    topics: list[str],
    *,
    enabled: bool = True,
) -> AclPlan:
    """Only `subscriber`'s grants: exactly those of `topics`, its notices and, for a department,
    its quality feedback (none: disabled)."""
    current = broker.grants()
    desired: set[Grant] = set()
    if enabled:
        desired = subscriber_grants(subscriber, topics) | notice_grants(subscriber)
        if any(d.id == subscriber for d in catalog.departments):
            desired |= feedback_grants(subscriber)
    changes = plan(current, desired, {user(subscriber)})
    if changes.changed:
        apply(settings, broker, changes, catalog.version)
    return changes


def ensure_service_principals(settings: Settings) -> None:
    """The router's and Connect's SCRAM credentials (from the settings) and their grants; run by
    `stack up`, before Connect starts. Adds only: `acl sync` removes."""
    broker = Broker(settings)
    broker.set_password(settings.kafka_router_user, settings.kafka_router_password.get_secret_value())
    broker.set_password(settings.kafka_connect_user, settings.kafka_connect_password.get_secret_value())
    grant(settings, service_grants(settings), broker)


def grant(settings: Settings, grants: set[Grant], broker: Broker | None = None) -> list[Grant]:
    """Add the missing ones of `grants` (audited); returns those added."""
    broker = broker or Broker(settings)
    missing = tuple(sorted(grants - broker.grants()))
    if missing:
        apply(settings, broker, AclPlan(add=missing, remove=(), kept=0, unmanaged=0), None)
    return list(missing)
