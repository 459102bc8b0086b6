"""Objections (疑义) as pure functions over plain data: a subscriber flags a record it received as
wrong, the responsible department answers (acknowledged → corrected | rejected), a change of an
objected field in the source corrects it, and how soon each was resolved scores the resource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sharebus.catalog.models import Catalog, FieldSpec, FieldType
from sharebus.core.errors import Refused

RESOLVE_DAYS = 5
"""Days within which an objection resolved (corrected or rejected) counts fully; past them it
counts less each day, nothing at twice as many (`on_time`)."""


class ObjectionState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CORRECTED = "corrected"
    REJECTED = "rejected"


RESOLVED = frozenset({ObjectionState.CORRECTED, ObjectionState.REJECTED})

ANSWERS: Mapping[str, ObjectionState] = {
    "acknowledge": ObjectionState.ACKNOWLEDGED,
    "correct": ObjectionState.CORRECTED,
    "reject": ObjectionState.REJECTED,
}
"""What a department answers, and the state each leads to."""

SOURCE_CHANGE = "source change"
"""Who corrected an objection whose field changed in the source (the router saw it)."""


class ObjectionRefused(Refused):
    """An objection or an answer was refused: not the caller's (`forbidden`), no such objection or
    record (`missing`), malformed (`invalid`), or not possible in its state (`conflict`)."""


@dataclass(frozen=True, slots=True)
class Objection:
    """One objection and where it stands. `key` is the record's primary key, `offset` where the
    subscriber received it on its own topic; times are UTC."""

    id: str
    subscriber: str
    department: str
    resource: str
    key: dict[str, Any]
    fields: tuple[str, ...]
    reason: str
    offset: int
    raised_at: datetime
    state: ObjectionState = ObjectionState.OPEN
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    answer: str = ""
    answered_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fields"] = list(self.fields)
        for name in ("raised_at", "updated_at", "resolved_at"):
            value = getattr(self, name)
            out[name] = value.isoformat() if value is not None else None
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Objection:
        def when(name: str) -> datetime | None:
            value = data.get(name)
            return datetime.fromisoformat(value) if isinstance(value, str) else None

        raised = when("raised_at")
        if raised is None:
            raise ValueError("an objection without raised_at")
        return Objection(
            id=str(data["id"]),
            subscriber=str(data["subscriber"]),
            department=str(data["department"]),
            resource=str(data["resource"]),
            key=dict(data["key"]),
            fields=tuple(str(f) for f in data["fields"]),
            reason=str(data["reason"]),
            offset=int(data["offset"]),
            raised_at=raised,
            state=ObjectionState(data.get("state", ObjectionState.OPEN)),
            updated_at=when("updated_at"),
            resolved_at=when("resolved_at"),
            answer=str(data.get("answer") or ""),
            answered_by=str(data.get("answered_by") or ""),
        )

    @property
    def resolved(self) -> bool:
        return self.state in RESOLVED


def new_objection(
    catalog: Catalog, subscriber: str, body: Mapping[str, Any], objection_id: str, now: datetime
) -> Objection:
    """An objection as `subscriber` raises it (checked against the catalog; whether it received the
    record is checked against its topic by the caller)."""

    def invalid(problem: str, **kw: Any) -> ObjectionRefused:
        return ObjectionRefused("the objection", problem, kind=ObjectionRefused.INVALID, **kw)

    resource_id = body.get("resource")
    res = catalog.resource(resource_id) if isinstance(resource_id, str) else None
    if res is None:
        raise ObjectionRefused(
            f"resource {resource_id!r}", "is no resource of the catalog", kind=ObjectionRefused.MISSING
        )
    key = body.get("key")
    if not isinstance(key, dict) or set(key) != set(res.primary_key):
        raise invalid("its key does not name the record", expected=f"{{{', '.join(res.primary_key)}}}")
    key = {name: _typed(res.field(name), key[name]) for name in res.primary_key}  # as the topic has it
    fields = body.get("fields")
    names = {f.name for f in res.fields}
    if (
        not isinstance(fields, list)
        or not fields
        or not all(isinstance(f, str) and f in names for f in fields)
    ):
        raise invalid("names no field of the resource", expected=f"one or more of {sorted(names)}")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise invalid("gives no reason", expected="what is wrong with the value, for the department")
    offset = body.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise invalid(
            "gives no offset of the record on the subscriber's topic",
            expected="the sync's sharebus_offset column of the row",
        )
    return Objection(
        id=objection_id,
        subscriber=subscriber,
        department=res.department,
        resource=res.id,
        key=dict(key),
        fields=tuple(dict.fromkeys(fields)),
        reason=reason.strip()[:1000],
        offset=offset,
        raised_at=now,
        updated_at=now,
    )


def _typed(spec: FieldSpec | None, value: Any) -> Any:
    """A key value given as text (`id=42` on a command line) in its field's JSON form."""
    if spec is not None and spec.type in (FieldType.INTEGER, FieldType.DATE) and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def answered(
    objection: Objection, action: str, by: str, *, authority: bool, reason: str, now: datetime
) -> Objection:
    """`objection` answered by `by` (the department's login, or the data authority): acknowledged
    while open; corrected or rejected (with a reason) until resolved."""
    target = ANSWERS.get(action)
    subject = f"objection {objection.id}"
    if target is None:
        raise ObjectionRefused(
            f"answer {action!r}", "is not one", kind=ObjectionRefused.INVALID, expected=" | ".join(ANSWERS)
        )
    if not authority and by != objection.department:
        raise ObjectionRefused(
            subject,
            f"is {objection.department}'s to answer, not {by}'s",
            kind=ObjectionRefused.FORBIDDEN,
            fix=f"answer as the department's login ({objection.department}) or the data authority",
        )
    if objection.resolved or (
        target is ObjectionState.ACKNOWLEDGED and objection.state is not ObjectionState.OPEN
    ):
        raise ObjectionRefused(subject, f"is {objection.state.value}: it cannot be {target.value} now")
    if target is ObjectionState.REJECTED and not reason.strip():
        raise ObjectionRefused(
            subject, "a rejection needs a reason", kind=ObjectionRefused.INVALID, fix="give --reason"
        )
    resolved = now if target in RESOLVED else None
    return replace(
        objection,
        state=target,
        updated_at=now,
        resolved_at=resolved,
        answer=reason.strip()[:1000],
        answered_by=by,
    )


def changed_fields(objection: Objection, before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a source update changed one of the objected fields (what corrects it)."""
    return any(before.get(name) != after.get(name) for name in objection.fields)


def corrected(objection: Objection, now: datetime) -> Objection:
    """Marked corrected by a change of an objected field in the source."""
    return replace(
        objection,
        state=ObjectionState.CORRECTED,
        updated_at=now,
        resolved_at=now,
        answer="the source row changed the objected field",
        answered_by=SOURCE_CHANGE,
    )


def on_time(objection: Objection, now: datetime) -> float:
    """1 when resolved within RESOLVE_DAYS of being raised (or open and younger), falling linearly
    to 0 at twice that: the resolution time, or an open objection's age, as a share of the score."""
    end = objection.resolved_at if objection.resolved_at is not None else now
    days = (end - objection.raised_at) / timedelta(days=1)
    return max(0.0, min(1.0, 1.0 - (days - RESOLVE_DAYS) / RESOLVE_DAYS))


def indicator(objections: Iterable[Objection], now: datetime) -> float:
    """The objections indicator of a resource: the mean `on_time` of its objections (1 when none)."""
    scores = [on_time(o, now) for o in objections]
    return sum(scores) / len(scores) if scores else 1.0
