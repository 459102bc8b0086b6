"""The demand workflow (供需对接) as pure functions over a catalog: request, approve, reject and
revoke a demand; who may take each step; the state a demand is in at a time."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sharebus.catalog.models import (
    DEMAND_ID,
    Catalog,
    Contact,
    Demand,
    DemandStatus,
    Grade,
    Resource,
    Sharing,
)
from sharebus.core.errors import Refused


class DemandState(StrEnum):
    """Where a demand stands at a time: its status, and for an approved one whether its validity
    has ended (`expired` is a time, not a decision: nothing is written when it passes)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Step(StrEnum):
    REQUEST = "request"
    APPROVE = "approve"
    REJECT = "reject"
    REVOKE = "revoke"


class DemandRefused(Refused):
    """A step of the demand workflow was refused: not the actor's to take (`forbidden`), no such
    demand (`missing`), malformed (`invalid`), or not possible for the demand in its state or for
    the resource (`conflict`)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who takes a step: a logged-in user, the subscriber it is (its Kafka user is the
    subscriber's id), and whether it holds the data authority's role."""

    user: str
    authority: bool = False

    @property
    def subscriber(self) -> str:
        return self.user


@dataclass(frozen=True, slots=True)
class Transition:
    """One step taken: the audit record of a demand's change (and of the catalog version it makes)."""

    step: Step
    demand: str
    subscriber: str
    resource: str
    before: DemandState | None
    after: DemandState
    actor: str
    at: datetime
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DemandRequest:
    """What a subscriber asks for."""

    subscriber: str
    resource: str
    purpose: str
    contact: Contact
    fields: tuple[str, ...] | None = None  # None: every non-secret field (unconditional only)
    valid_from: datetime | None = None  # None: from the request
    valid_until: datetime | None = None


def state_at(demand: Demand, now: datetime) -> DemandState:
    """The state of `demand` at `now`."""
    if (
        demand.status is DemandStatus.APPROVED
        and demand.valid_until is not None
        and now >= demand.valid_until
    ):
        return DemandState.EXPIRED
    return DemandState(demand.status.value)


def request(catalog: Catalog, actor: Actor, ask: DemandRequest, now: datetime) -> tuple[Demand, Transition]:
    """A new pending demand: a subscriber asks for itself (the data authority may file one for
    any subscriber); a `not_shared` resource is refused with its legal basis."""
    if not actor.authority and actor.subscriber != ask.subscriber:
        raise _refused(
            f"demand request for {ask.subscriber}",
            f"{actor.user} may request demands for itself only",
            kind=DemandRefused.FORBIDDEN,
            expected=f"logged in as {ask.subscriber}, or as the data authority",
            actual=f"logged in as {actor.user}",
        )
    if ask.subscriber not in catalog.subscriber_ids():
        raise _refused(
            f"demand request for {ask.subscriber}",
            f"unknown subscriber {ask.subscriber!r}",
            fix="a district code of the city or a subscriber of subscribers.yaml",
        )
    res = _resource(catalog, ask.resource)
    if res.sharing is Sharing.NOT_SHARED:
        raise _refused(
            f"demand request for {res.id}",
            f"{res.id} is not shared (不予共享) and is never delivered",
            actual=f"legal basis: {res.legal_basis or '(none given in the catalog)'}",
            fix="ask the owning department to reclassify the resource, or request another one",
        )
    fields = _fields(res, ask.fields, what=f"demand request for {res.id}")
    start = ask.valid_from or now
    if res.sharing is Sharing.CONDITIONAL and ask.valid_until is None:
        raise _refused(
            f"demand request for {res.id}",
            f"{res.id} is shared on conditions: a demand for it ends at a stated time",
            expected="valid_until, a time with its offset",
            actual="none given",
            fix="give the end of validity (--until, or valid_until in the body)",
            kind=DemandRefused.INVALID,
        )
    if ask.valid_until is not None and ask.valid_until <= start:
        raise _refused(
            f"demand request for {res.id}",
            "its validity ends before it begins",
            expected=f"valid_until after {start.isoformat()}",
            actual=ask.valid_until.isoformat(),
        )
    demand = Demand(
        id=next_demand_id(catalog, ask.subscriber, res.id),
        subscriber=ask.subscriber,
        resource=res.id,
        purpose=ask.purpose,
        status=DemandStatus.PENDING,
        fields=fields,
        valid_from=start,
        valid_until=ask.valid_until,
    )
    detail = {"contact": ask.contact.model_dump(mode="json"), "fields": list(fields or ())}
    return demand, _transition(Step.REQUEST, demand, None, actor, now, "", detail)


def approve(
    catalog: Catalog,
    actor: Actor,
    demand_id: str,
    now: datetime,
    *,
    fields: Iterable[str] | None = None,
    valid_until: datetime | None = None,
    consent: str | None = None,
    reason: str = "",
) -> tuple[Demand, Transition]:
    """The data authority approves a pending demand, possibly narrowed (fewer fields, an earlier
    end); a `conditional` resource also needs its owning department's consent (who gave it)."""
    demand = _decidable(catalog, actor, demand_id, Step.APPROVE)
    res = _resource(catalog, demand.resource)
    what = f"demand {demand.id}"
    if res.sharing is Sharing.CONDITIONAL and not (consent or "").strip():
        raise _refused(
            what,
            f"{res.id} is shared on conditions: its department {res.department} must consent",
            fix="record who consented for the department (--consent NAME)",
        )
    narrowed = demand.fields
    if fields is not None:
        asked = demand.fields if demand.fields is not None else _deliverable(res)
        narrowed = _within(
            fields,
            asked,
            what,
            "an approval may narrow the requested fields, never widen them",
            f"a non-empty subset of {', '.join(asked)}",
        )
    until = demand.valid_until
    if valid_until is not None:
        if (until is not None and valid_until > until) or valid_until <= demand.valid_from:
            raise _refused(
                what,
                "an approval may end the validity earlier, never later or before it begins",
                expected=f"after {demand.valid_from.isoformat()}"
                + (f" and at most {until.isoformat()}" if until is not None else ""),
                actual=valid_until.isoformat(),
            )
        until = valid_until
    decided = demand.model_copy(
        update={
            "status": DemandStatus.APPROVED,
            "fields": narrowed,
            "valid_until": until,
            "approver": actor.user,
            "note": reason,
        }
    )
    detail: dict[str, Any] = {"fields": list(narrowed or ())}
    if until is not None:
        detail["valid_until"] = until.isoformat()
    if consent:
        detail["consent"] = {"department": res.department, "by": consent.strip()}
    return decided, _transition(Step.APPROVE, decided, DemandState.PENDING, actor, now, reason, detail)


def reject(
    catalog: Catalog, actor: Actor, demand_id: str, now: datetime, *, reason: str
) -> tuple[Demand, Transition]:
    """The data authority rejects a pending demand, saying why."""
    demand = _decidable(catalog, actor, demand_id, Step.REJECT)
    _reason_given(demand, reason, Step.REJECT)
    decided = demand.model_copy(
        update={"status": DemandStatus.REJECTED, "approver": actor.user, "note": reason}
    )
    return decided, _transition(Step.REJECT, decided, DemandState.PENDING, actor, now, reason, {})


def revoke(
    catalog: Catalog, actor: Actor, demand_id: str, now: datetime, *, reason: str
) -> tuple[Demand, Transition]:
    """The data authority revokes an approved demand (in force or not yet), saying why: the
    subscriber's data of it is then destroyed."""
    demand = _demand(catalog, demand_id)
    if not actor.authority:
        raise _not_authority(actor, demand, Step.REVOKE)
    before = state_at(demand, now)
    if before is not DemandState.APPROVED:
        raise _refused(
            f"demand {demand.id}",
            f"only an approved demand in force can be revoked; it is {before.value}",
            fix="a pending demand is rejected instead" if before is DemandState.PENDING else None,
        )
    _reason_given(demand, reason, Step.REVOKE)
    decided = demand.model_copy(
        update={"status": DemandStatus.REVOKED, "approver": actor.user, "note": reason}
    )
    return decided, _transition(Step.REVOKE, decided, before, actor, now, reason, {})


def with_demand(catalog: Catalog, demand: Demand) -> Catalog:
    """`catalog` with `demand` replacing the entry of its id, or appended."""
    demands = list(catalog.demands)
    for i, d in enumerate(demands):
        if d.id == demand.id:
            demands[i] = demand
            break
    else:
        demands.append(demand)
    return catalog.model_copy(update={"demands": tuple(demands)})


def visible(catalog: Catalog, actor: Actor) -> list[Demand]:
    """The demands `actor` may see: every one for the data authority; its own for a subscriber;
    those for its resources for an owning department (a department's login is its id)."""
    owned = {r.id for r in catalog.resources if r.department == actor.user}
    return [
        d
        for d in catalog.demands
        if actor.authority or d.subscriber == actor.subscriber or d.resource in owned
    ]


def next_demand_id(catalog: Catalog, subscriber: str, resource: str) -> str:
    """`<subscriber>.<resource>` (the demand list's own naming), with `-2`, `-3`… when taken."""
    taken = {d.id for d in catalog.demands}
    base = f"{subscriber}.{resource}"[:60]
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    assert _ID_PATTERN.match(candidate), candidate
    return candidate


# --- helpers -------------------------------------------------------------------------------------
def _decidable(catalog: Catalog, actor: Actor, demand_id: str, step: Step) -> Demand:
    demand = _demand(catalog, demand_id)
    if not actor.authority:
        raise _not_authority(actor, demand, step)
    if demand.status is not DemandStatus.PENDING:
        raise _refused(
            f"demand {demand.id}",
            f"only a pending demand can be decided; it is {demand.status.value}",
            fix="request it again to have it decided anew" if step is Step.APPROVE else None,
        )
    return demand


def _not_authority(actor: Actor, demand: Demand, step: Step) -> DemandRefused:
    own = demand.subscriber == actor.subscriber
    return _refused(
        f"demand {demand.id}",
        f"{actor.user} may not {step.value} demands: that is the data authority's decision"
        + (" (a subscriber never decides its own demand)" if own else ""),
        expected="a user of SHAREBUS_WEB_AUTHORITIES (or the admin)",
        actual=f"{actor.user}, " + ("the demand's own subscriber" if own else "not the data authority"),
        kind=DemandRefused.FORBIDDEN,
    )


def _demand(catalog: Catalog, demand_id: str) -> Demand:
    for d in catalog.demands:
        if d.id == demand_id:
            return d
    raise _refused(
        f"demand {demand_id}",
        "no such demand",
        fix="`sharebus demand list` names them",
        kind=DemandRefused.MISSING,
    )


def _resource(catalog: Catalog, resource_id: str) -> Resource:
    res = catalog.resource(resource_id)
    if res is None:
        raise _refused(
            f"resource {resource_id}", "not in the catalog", fix="`sharebus catalog show` lists the resources"
        )
    return res


def _deliverable(res: Resource) -> tuple[str, ...]:
    return tuple(f.name for f in res.fields if f.grade is not Grade.SECRET)


def _fields(res: Resource, asked: tuple[str, ...] | None, *, what: str) -> tuple[str, ...] | None:
    deliverable = _deliverable(res)
    if asked is None:
        if res.sharing is Sharing.CONDITIONAL:
            raise _refused(
                what,
                f"{res.id} is shared on conditions: a demand names the fields it needs",
                fix=f"name them (--field …) among {', '.join(deliverable)}",
            )
        return None
    return _within(
        asked,
        deliverable,
        what,
        "asks for fields the resource does not deliver",
        f"some of {', '.join(deliverable)} (secret fields are never delivered)",
    )


def _within(
    asked: Iterable[str], allowed: tuple[str, ...], what: str, problem: str, expected: str
) -> tuple[str, ...]:
    """`asked` without repeats, when it is a non-empty subset of `allowed`; refused otherwise."""
    wanted = tuple(dict.fromkeys(asked))
    outside = [f for f in wanted if f not in allowed]
    if outside or not wanted:
        raise _refused(what, problem, expected=expected, actual=", ".join(outside) if outside else "no field")
    return wanted


def _reason_given(demand: Demand, reason: str, step: Step) -> None:
    if not reason.strip():
        raise _refused(
            f"demand {demand.id}", f"a {step.value} says why", fix="give the reason (--reason TEXT)"
        )


def _transition(
    step: Step,
    demand: Demand,
    before: DemandState | None,
    actor: Actor,
    now: datetime,
    reason: str,
    detail: dict[str, Any],
) -> Transition:
    return Transition(
        step,
        demand.id,
        demand.subscriber,
        demand.resource,
        before,
        state_at(demand, now),
        actor.user,
        now,
        reason,
        detail,
    )


def _refused(subject: str, problem: str, **kw: Any) -> DemandRefused:
    return DemandRefused(subject, problem, **kw)


_ID_PATTERN = re.compile(DEMAND_ID)
