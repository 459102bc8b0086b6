"""Quality feedback to the departments, as pure functions: a dead-lettered record's key masked as a
sample, and one feedback record per problem kind, resource and day — count, first and last seen,
the sample, the responsible unit and its contact from the responsibility list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from sharebus.catalog.models import Catalog, Grade, MaskKind, Resource
from sharebus.core import naming
from streams.policy.masks import mask_function

HIDDEN = "***"
"""What a key value shows when its field is neither public nor partially maskable."""


def masked_key(resource: Resource | None, key: bytes | None) -> str:
    """`uscc=91500101MA…` — a record's key (Debezium's key JSON) for a person to find the row by,
    each value as its field may be shown: public values whole, sensitive ones through their
    partial mask (ID number, phone, name, address), anything else hidden. '' when unreadable."""
    try:
        data = orjson.loads(key) if key else None
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(data, dict):
        return ""
    shown: list[str] = []
    for name, value in data.items():
        spec = resource.field(str(name)) if resource is not None else None
        shown.append(f"{name}={_shown(spec.grade if spec else None, spec.mask if spec else None, value)}")
    return ", ".join(shown)


def _shown(grade: Grade | None, mask: MaskKind | None, value: Any) -> str:
    if value is None:
        return "null"
    if grade is Grade.PUBLIC:
        return str(value)
    if mask is not None and mask not in (MaskKind.REDACT, MaskKind.PSEUDONYM):
        fn = mask_function(mask, pseudonym=None)
        if fn is not None:
            return str(fn(value))
    return HIDDEN


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem kind of one resource on one day, as the metrics store counted it."""

    day: str
    department: str
    resource: str
    problem: str
    count: int
    first_seen: str
    last_seen: str
    sample_key: str

    @staticmethod
    def of(row: Mapping[str, Any]) -> Problem:
        return Problem(
            day=str(row["day"]),
            department=str(row["department"]),
            resource=str(row["resource"]),
            problem=str(row["problem"]),
            count=int(row["count"]),
            first_seen=str(row["first_seen"]),
            last_seen=str(row["last_seen"]),
            sample_key=str(row.get("sample_key") or ""),
        )


FeedbackRecord = tuple[str, bytes, bytes]
"""(topic, value, key) of one feedback record (as `sharebus.core.kafka_clients.deliver` takes it)."""


def feedback_records(catalog: Catalog, problems: Iterable[Problem]) -> list[FeedbackRecord]:
    """The feedback records of `problems`: on `feedback.<department>`, keyed
    `<resource>/<problem>/<day>` (the topic is compacted: a day's record is replaced as its count
    grows), a JSON value naming the responsible unit and its contact."""
    responsible = {r.resource: r for r in catalog.responsibilities}
    out: list[FeedbackRecord] = []
    for p in problems:
        resp = responsible.get(p.resource)
        contact = resp.contact.model_dump(exclude_none=True) if resp is not None else None
        value = {
            "day": p.day,
            "department": p.department,
            "resource": p.resource,
            "problem": p.problem,
            "count": p.count,
            "first_seen": p.first_seen,
            "last_seen": p.last_seen,
            "sample_key": p.sample_key,
            "responsible_unit": resp.unit if resp is not None else None,
            "contact": contact,
        }
        key = naming.feedback_key(p.resource, p.problem, p.day)
        out.append((naming.feedback_topic(p.department), orjson.dumps(value), key.encode()))
    return out


def changed(records: Iterable[FeedbackRecord], published: Mapping[bytes, bytes]) -> list[FeedbackRecord]:
    """The records whose value differs from the one last published under their key."""
    return [r for r in records if published.get(r[2]) != r[1]]
