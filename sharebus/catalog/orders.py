"""A demand workflow step as plain data (pure): what the CLI and the worker's HTTP API ask for, what
travels to the admin's demand desk as JSON, and what the desk takes on the catalog."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sharebus.catalog import workflow
from sharebus.catalog.models import Catalog, Contact, Demand
from sharebus.catalog.workflow import Actor, DemandRefused, DemandRequest, Step, Transition


@dataclass(frozen=True, slots=True)
class StepOrder:
    """One step to take: `demand` names the demand decided (approve, reject, revoke); `ask` is a
    request's content; `fields`, `valid_until` and `consent` narrow and qualify an approval."""

    step: Step
    demand: str | None = None
    ask: DemandRequest | None = None
    fields: tuple[str, ...] | None = None
    valid_until: datetime | None = None
    consent: str | None = None
    reason: str = ""

    def take(self, catalog: Catalog, actor: Actor, now: datetime) -> tuple[Demand, Transition]:
        """The step on `catalog` as `actor` at `now` (DemandRefused when it may not be taken)."""
        if self.step is Step.REQUEST:
            assert self.ask is not None
            return workflow.request(catalog, actor, self.ask, now)
        assert self.demand is not None
        if self.step is Step.APPROVE:
            return workflow.approve(
                catalog,
                actor,
                self.demand,
                now,
                fields=self.fields,
                valid_until=self.valid_until,
                consent=self.consent,
                reason=self.reason,
            )
        decide = workflow.reject if self.step is Step.REJECT else workflow.revoke
        return decide(catalog, actor, self.demand, now, reason=self.reason)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step.value, "reason": self.reason}
        if self.demand is not None:
            out["demand"] = self.demand
        if self.ask is not None:
            a = self.ask
            out.update(
                subscriber=a.subscriber,
                resource=a.resource,
                purpose=a.purpose,
                contact=a.contact.model_dump(mode="json", exclude_none=True),
                valid_from=_text(a.valid_from),
            )
            if a.fields is not None:
                out["fields"] = list(a.fields)
            out["valid_until"] = _text(a.valid_until)
        else:
            if self.fields is not None:
                out["fields"] = list(self.fields)
            out["valid_until"] = _text(self.valid_until)
            if self.consent is not None:
                out["consent"] = self.consent
        return out

    @classmethod
    def from_dict(cls, data: Any) -> StepOrder:
        """An order from JSON (the API's body with its step and demand, or a desk record); bad
        input is DemandRefused naming the field."""
        if not isinstance(data, dict):
            raise _bad("the step", "is not a JSON object", actual=type(data).__name__)
        try:
            step = Step(str(data.get("step")))
        except ValueError:
            raise _bad("step", "is not a workflow step", actual=repr(data.get("step"))) from None
        reason = _str(data, "reason") or ""
        fields = _fields(data)
        if step is Step.REQUEST:
            contact = data.get("contact")
            if not isinstance(contact, dict) or not _str(contact, "name"):
                raise _bad("contact", "needs a name, and a phone or an e-mail", actual=repr(contact))
            phone, email = _str(contact, "phone"), _str(contact, "email")
            if not (phone or email):
                raise _bad("contact", "needs a phone or an e-mail", actual=repr(contact))
            ask = DemandRequest(
                subscriber=_required(data, "subscriber"),
                resource=_required(data, "resource"),
                purpose=_required(data, "purpose"),
                contact=Contact(name=_str(contact, "name") or "", phone=phone, email=email),
                fields=fields,
                valid_from=_time(data, "valid_from"),
                valid_until=_time(data, "valid_until"),
            )
            return cls(step, ask=ask, reason=reason)
        return cls(
            step,
            demand=_required(data, "demand"),
            fields=fields,
            valid_until=_time(data, "valid_until"),
            consent=_str(data, "consent"),
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class DeskRequest:
    """A step the worker's HTTP API accepted for `user` (authenticated there), for the admin's
    demand desk to take: it alone writes the catalog."""

    order: StepOrder
    user: str
    authority: bool
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def actor(self) -> Actor:
        return Actor(self.user, authority=self.authority)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "authority": self.authority,
            "at": self.at.isoformat(),
            "order": self.order.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> DeskRequest:
        if not isinstance(data, dict):
            raise _bad("desk request", "is not a JSON object", actual=type(data).__name__)
        at = _time(data, "at") or datetime.now(UTC)
        return cls(
            StepOrder.from_dict(data.get("order")),
            _required(data, "user"),
            data.get("authority") is True,
            _required(data, "id"),
            at,
        )


# --- helpers ---------------------------------------------------------------------------------------
def _bad(what: str, problem: str, **kw: Any) -> DemandRefused:
    return DemandRefused(what, problem, kind=DemandRefused.INVALID, **kw)


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(key, "is not a string", actual=repr(value))
    return value


def _required(data: dict[str, Any], key: str) -> str:
    value = _str(data, key)
    if not value:
        raise _bad(key, "is required", actual="missing")
    return value


def _fields(data: dict[str, Any]) -> tuple[str, ...] | None:
    value = data.get("fields")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise _bad("fields", "is not a list of field names", actual=repr(value))
    return tuple(value) or None


TIME_EXPECTED = "ISO 8601 with an offset, e.g. 2027-06-30T00:00:00+08:00"


def parse_utc(text: str) -> datetime | None:
    """An ISO 8601 time with its offset, in UTC; None when it is not one (no offset included)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else None


def _time(data: dict[str, Any], key: str) -> datetime | None:
    text = _str(data, key)
    if text is None:
        return None
    value = parse_utc(text)
    if value is None:
        raise _bad(key, "is not a time with its zone", expected=TIME_EXPECTED, actual=repr(text))
    return value


def _text(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
