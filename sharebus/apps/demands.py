"""Taking a demand workflow step as the admin: the city's catalog folder gets the changed demand,
the folder is published as the live policy, the subscribers' ACLs are synced, the step audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sharebus.apps.acl.sync import AclPlan, sync
from sharebus.catalog.demand_file import render_demands
from sharebus.catalog.demand_view import demand_row
from sharebus.catalog.load import city_dir, load_catalog
from sharebus.catalog.models import Catalog, Demand
from sharebus.catalog.notices import recipients, step_notice
from sharebus.catalog.validate import DEMAND_FILE
from sharebus.catalog.workflow import Actor, Transition, with_demand
from sharebus.core.audit import AuditLog, event
from sharebus.core.errors import SharebusError
from sharebus.core.kafka_clients import Role
from sharebus.core.notices import NoticeWriter
from sharebus.core.settings import Settings
from streams.router.live_catalog import publish_catalog

StepFn = Callable[[Catalog, Actor, datetime], tuple[Demand, Transition]]
"""A step of `sharebus.catalog.workflow` with its arguments bound: (catalog, actor, now)."""


@dataclass(frozen=True)
class StepTaken:
    demand: Demand
    transition: Transition
    version: str  # the catalog version now live
    offset: int  # its record on the catalog topic
    acl: AclPlan

    def to_dict(self) -> dict[str, Any]:
        """As `demand … --json` prints it and the web API answers."""
        t = self.transition
        return {
            "demand": demand_row(self.demand, t.at),
            "step": t.step.value,
            "from": t.before.value if t.before is not None else None,
            "to": t.after.value,
            "version": self.version,
            "acl": {"added": len(self.acl.add), "removed": len(self.acl.remove)},
        }


def take_step(
    settings: Settings, step: StepFn, city: str | None = None, actor: Actor | None = None
) -> StepTaken:
    """Take `step` on the city's catalog folder and make it live: the folder's demands.yaml
    rewritten, the folder published, ACLs synced, the step audited. `actor` is who asked (a user
    the worker's web API authenticated, for the demand desk); by default the admin, who holds
    every role, the data authority's included. A step that is refused changes nothing; a publish
    that fails puts demands.yaml back as it was."""
    city = city or settings.city
    folder = city_dir(settings.catalog_dir, city)
    catalog = load_catalog(folder)
    actor = actor or Actor(settings.kafka_admin_user, authority=True)
    demand, transition = step(catalog, actor, datetime.now(UTC))
    audit = AuditLog(settings)
    audit.open()  # its producer is made while the version is published
    updated = with_demand(catalog, demand)
    path = folder / DEMAND_FILE
    previous = path.read_text(encoding="utf-8")
    path.write_text(render_demands(updated.demands), encoding="utf-8")
    try:
        published = publish_catalog(settings, city)
    except BaseException:
        path.write_text(previous, encoding="utf-8")  # nothing took effect: the folder is as it was
        raise
    try:
        plan = sync(settings, updated)
    except SharebusError as exc:
        raise SharebusError(
            f"demand {demand.id}",
            f"is {transition.after.value} in catalog version {published.version} (live), but the ACLs"
            " were not synced",
            actual=exc.problem,
            fix="run `sharebus acl sync` once Kafka answers",
        ) from exc
    record = event(
        settings,
        f"demand.{transition.step.value}",
        demand.subscriber,
        demand.resource,
        catalog_version=published.version,
        at=transition.at,
        detail={
            "demand": demand.id,
            "from": transition.before.value if transition.before is not None else None,
            "to": transition.after.value,
            "by": transition.actor,
            "reason": transition.reason,
            **transition.detail,
        },
    )
    audit.write([record])
    notice = step_notice(demand, transition, published.version)
    told = [(r, demand.id, notice) for r in recipients(updated, demand.subscriber, demand.resource)]
    try:
        NoticeWriter(settings, Role.ADMIN).send(told)
    except SharebusError as exc:
        raise SharebusError(
            f"demand {demand.id}",
            f"is {transition.after.value} in catalog version {published.version} (live, audited), but"
            f" {', '.join(r for r, _, _ in told)} were not notified",
            actual=exc.problem,
            fix="they see it with `sharebus demand list --mine` meanwhile; check Kafka",
        ) from exc
    return StepTaken(demand, transition, published.version, published.offset, plan)
