"""Cross-reference rules of a catalog: what must hold between entries and lists once each entry
has parsed on its own (ids unique, references resolve, grades and masks agree, …)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sharebus.catalog.issues import CatalogIssue
from sharebus.catalog.models import (
    ALL_DISTRICTS,
    City,
    CodeKind,
    Demand,
    DemandStatus,
    Department,
    District,
    FieldType,
    Grade,
    Resource,
    Responsibility,
    Sharing,
    Subscriber,
    SubscriberKind,
)
from sharebus.core import naming, pacing

T = TypeVar("T")

REGION_FILE = "region.yaml"
BUS_PREFIX = "sharebus"
"""The bus's own Kafka users are named so by default (sharebus-admin, -router, -connect)."""


CATALOG_FILE = "catalog.yaml"
DEMAND_FILE = "demands.yaml"
RESPONSIBILITY_FILE = "responsibility.yaml"
DISTRICTS_FILE = "districts.csv"

CLEAR_GRADES = (Grade.PUBLIC, Grade.INTERNAL)


def line_of(raw: Any, path: Iterable[str | int]) -> int | None:
    """Line of the deepest mapping along `path` in YAML data loaded with line marks."""
    line: int | None = getattr(raw, "line", None)
    node = raw
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
        line = getattr(node, "line", line)
    return line


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """A parsed entry and where it came from, to locate problems found across entries."""

    value: T
    file: str
    label: str
    raw: Any = None
    line: int | None = None

    def issue(self, field: str, problem: str, allowed: str, *path: str | int) -> CatalogIssue:
        line = line_of(self.raw, path) if path else self.line
        return CatalogIssue(self.file, self.label, field, problem, allowed, line or self.line)


@dataclass(slots=True)
class Parsed:
    """Entries that parsed on their own, plus the raw ids of every entry (parsed or not), so a
    reference to an entry that failed to parse is not reported twice."""

    folder: str | None = None
    city: Entry[City] | None = None
    districts: list[Entry[District]] = field(default_factory=list)
    subscribers: list[Entry[Subscriber]] = field(default_factory=list)
    departments: list[Entry[Department]] = field(default_factory=list)
    resources: list[Entry[Resource]] = field(default_factory=list)
    demands: list[Entry[Demand]] = field(default_factory=list)
    responsibilities: list[Entry[Responsibility]] = field(default_factory=list)
    raw_ids: dict[str, set[str]] = field(default_factory=dict)
    broken_files: set[str] = field(default_factory=set)

    def declared(self, kind: str) -> set[str]:
        return self.raw_ids.setdefault(kind, set())


def _names(values: Iterable[str]) -> str:
    listed = sorted(values)
    if not listed:
        return "(none)"
    if len(listed) > 12:
        return ", ".join(listed[:12]) + f", … ({len(listed)} in all)"
    return ", ".join(listed)


def _duplicates(entries: list[Entry[T]], key: str, kind: str) -> list[CatalogIssue]:
    counts = Counter(str(getattr(e.value, key)) for e in entries)
    return [
        e.issue(key, f"duplicate {kind} {getattr(e.value, key)!r}", f"a {kind} unique in the list")
        for e in entries
        if counts[str(getattr(e.value, key))] > 1
    ]


def city_prefix(code: str) -> str:
    """The leading digits every district code of a city shares: 500000 → 50, 430200 → 4302."""
    prefix = code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


def check_region(p: Parsed) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    if p.city is not None and p.folder is not None and p.city.value.id != p.folder:
        issues.append(
            p.city.issue("id", f"city id {p.city.value.id!r} differs from its folder name", p.folder)
        )
    issues += _duplicates(p.districts, "code", "district code")
    if p.city is not None:
        prefix = city_prefix(p.city.value.code)
        issues += [
            d.issue(
                "code",
                f"district code {d.value.code} is outside city {p.city.value.code}",
                f"a code starting with {prefix}",
            )
            for d in p.districts
            if not d.value.code.startswith(prefix) or d.value.code == p.city.value.code
        ]
    if not p.districts and DISTRICTS_FILE not in p.broken_files:
        issues.append(CatalogIssue(DISTRICTS_FILE, "", "", "no districts", "one row per district", None))
    issues += _duplicates(p.subscribers, "id", "subscriber id")
    codes = {d.value.code for d in p.districts}
    known_codes = codes | {c for c in p.declared("subscribers") if c.isdigit()}
    for e in p.subscribers:
        sub = e.value
        if sub.id == ALL_DISTRICTS:
            issues.append(e.issue("id", f"{ALL_DISTRICTS!r} is reserved", "any other id", "id"))
        if sub.id.startswith(BUS_PREFIX):
            issues.append(
                e.issue(
                    "id",
                    f"ids starting with {BUS_PREFIX!r} are the bus's own Kafka users",
                    "any other id (a subscriber's login and grants must never be the bus's)",
                    "id",
                )
            )
        if sub.kind is SubscriberKind.ZONE and (sub.city_wide or not sub.districts):
            issues.append(
                e.issue(
                    "districts",
                    "a zone needs the list of district codes it covers",
                    "districts: [<code>, …] (non-empty; city_wide is not allowed for a zone)",
                )
            )
        if sub.kind is SubscriberKind.DEPARTMENT and bool(sub.districts) == sub.city_wide:
            issues.append(
                e.issue(
                    "districts",
                    "a department needs exactly one explicit row filter"
                    " (there is no implicit city-wide view)",
                    "either districts: [<code>, …] or city_wide: true",
                )
            )
        for i, code in enumerate(sub.districts or ()):
            if code not in known_codes and codes:
                issues.append(
                    e.issue(
                        f"districts[{i}]",
                        f"{code} is not a district of this city",
                        f"a code from {DISTRICTS_FILE}",
                        "districts",
                    )
                )
        if sub.districts and len(set(sub.districts)) != len(sub.districts):
            issues.append(e.issue("districts", "a district code is listed twice", "each code once"))
    return issues


def check_resources(p: Parsed) -> list[CatalogIssue]:
    issues = _duplicates(p.departments, "id", "department id")
    issues += _duplicates(p.resources, "id", "resource id")
    departments = {d.value.id for d in p.departments} | p.declared("departments")
    sources = Counter((r.value.source.connector, r.value.source.table) for r in p.resources)
    records: dict[tuple[str, str], str] = {}
    for e in p.resources:
        pacing.pace()
        res = e.value
        issues += _check_resource(e, res, departments, sources)
        other = records.setdefault((res.department, res.record_name), res.id)
        if other != res.id:
            issues.append(
                e.issue(
                    "id",
                    f"its Avro record name {res.record_name} is {other}'s too",
                    "names that differ in more than '_' and '-' (one subscriber topic carries a "
                    "department's resources, each under its own record name)",
                    "id",
                )
            )
    return issues


def _check_resource(
    e: Entry[Resource],
    res: Resource,
    departments: set[str],
    sources: Counter[tuple[str, str]],
) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    if res.department not in departments:
        issues.append(
            e.issue(
                "department",
                f"unknown department {res.department!r}",
                f"a department declared in {CATALOG_FILE}: {_names(departments)}",
                "department",
            )
        )
    if res.id.split(".", 1)[0] != res.department:
        issues.append(
            e.issue(
                "id",
                f"resource id {res.id!r} does not start with its department",
                f"{res.department}.<name>",
            )
        )
    connector = res.source.connector
    own = naming.raw_prefix(res.department)
    if connector != own and not connector.startswith(f"{own}-"):
        issues.append(
            e.issue(
                "source.connector",
                f"connector {connector!r} is not one of department {res.department!r}",
                f"{own} (or {own}-<suffix>)",
                "source",
            )
        )
    if sources[(connector, res.source.table)] > 1:
        issues.append(
            e.issue(
                "source",
                f"{connector} {res.source.table} is the source of more than one resource",
                "one resource per source table",
                "source",
            )
        )
    if res.sharing is not Sharing.UNCONDITIONAL and not (res.legal_basis or "").strip():
        issues.append(
            e.issue(
                "legal_basis",
                f"a {res.sharing.value} resource needs its legal basis",
                "legal_basis: <the law, regulation or condition that applies>",
            )
        )
    names = Counter(f.name for f in res.fields)
    by_name = {f.name: f for f in res.fields}
    for i, f in enumerate(res.fields):
        where = f"fields[{f.name}]"
        if names[f.name] > 1:
            problem = f"duplicate field {f.name!r}"
            issues.append(e.issue(where, problem, "unique names", "fields", i))
        if f.grade is Grade.SENSITIVE and f.mask is None:
            issues.append(
                e.issue(
                    f"{where}.mask",
                    "a sensitive field needs a mask kind",
                    "id_number, phone, name, address, pseudonym or redact",
                    "fields",
                    i,
                )
            )
        if f.grade is not Grade.SENSITIVE and f.mask is not None:
            issues.append(
                e.issue(
                    f"{where}.mask",
                    f"a {f.grade.value} field takes no mask",
                    "mask only on grade sensitive",
                    "fields",
                    i,
                )
            )
        if f.type is not FieldType.STRING and (f.code is not None or f.values is not None):
            issues.append(
                e.issue(
                    f"{where}.type",
                    f"code/values checks need a string field, not {f.type.value}",
                    "type: string",
                    "fields",
                    i,
                )
            )
        if f.values is not None and (not f.values or len(set(f.values)) != len(f.values)):
            issues.append(
                e.issue(
                    f"{where}.values",
                    "values must list distinct allowed values",
                    "a non-empty list without repeats",
                    "fields",
                    i,
                )
            )
    if len(set(res.primary_key)) != len(res.primary_key):
        issues.append(e.issue("primary_key", "a key field is listed twice", "each field once"))
    for key in res.primary_key:
        spec = by_name.get(key)
        if spec is None:
            issues.append(
                e.issue(
                    "primary_key",
                    f"key field {key!r} is not a field of the resource",
                    f"fields of {res.id}: {_names(by_name)}",
                )
            )
        elif spec.grade not in CLEAR_GRADES:
            issues.append(
                e.issue(
                    "primary_key",
                    f"key field {key!r} is {spec.grade.value}: keys are always delivered in clear",
                    "key fields of grade public or internal",
                )
            )
        elif spec.code is CodeKind.RESIDENT_ID:
            issues.append(
                e.issue(
                    "primary_key",
                    f"key field {key!r} is a resident ID (code resident_id): keys are always delivered"
                    " in clear, to every subscriber of the resource",
                    "a key that identifies the record, not the person (e.g. a registration number)",
                )
            )
    if res.region_field is not None:
        spec = by_name.get(res.region_field)
        if spec is None or spec.type is not FieldType.STRING:
            issues.append(
                e.issue(
                    "region_field",
                    f"region field {res.region_field!r} is not a string field of the resource",
                    f"a string field holding district codes, or null for city-wide: "
                    f"{_names(n for n, s in by_name.items() if s.type is FieldType.STRING)}",
                )
            )
    return issues


def check_demands(p: Parsed) -> list[CatalogIssue]:
    issues = _duplicates(p.demands, "id", "demand id")
    subscribers = (
        {d.value.code for d in p.districts}
        | {s.value.id for s in p.subscribers}
        | p.declared("subscribers")
        | {ALL_DISTRICTS}
    )
    resources = {r.value.id: r.value for r in p.resources}
    broken = p.declared("resources") - set(resources)
    for e in p.demands:
        pacing.pace()
        d = e.value
        unresolvable = (DISTRICTS_FILE if d.subscriber.isdigit() else REGION_FILE) in (p.broken_files)
        if d.subscriber not in subscribers and not unresolvable:
            issues.append(
                e.issue(
                    "subscriber",
                    f"unknown subscriber {d.subscriber!r}",
                    f"a district code from {DISTRICTS_FILE} or one of"
                    f" {_names(s for s in subscribers if not s.isdigit())}",
                    "subscriber",
                )
            )
        if d.valid_until is not None and d.valid_until <= d.valid_from:
            issues.append(
                e.issue(
                    "valid_until",
                    f"valid_until {d.valid_until.isoformat()} is not after valid_from",
                    f"a time after {d.valid_from.isoformat()}, or omitted",
                )
            )
        if d.status is not DemandStatus.PENDING and not (d.approver or "").strip():
            issues.append(
                e.issue(
                    "approver",
                    f"a {d.status.value} demand names who decided it",
                    "approver: <the approving authority>",
                )
            )
        res = resources.get(d.resource)
        if res is None:
            if d.resource not in broken:
                issues.append(
                    e.issue(
                        "resource",
                        f"unknown resource {d.resource!r}",
                        f"a resource of {CATALOG_FILE}: {_names(resources)}",
                    )
                )
            continue
        issues += _check_demand_fields(e, d, res)
    return issues


def _check_demand_fields(e: Entry[Demand], d: Demand, res: Resource) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    by_name = {f.name: f for f in res.fields}
    deliverable = _names(n for n, f in by_name.items() if f.grade is not Grade.SECRET)
    if res.sharing is Sharing.NOT_SHARED and d.status is DemandStatus.APPROVED:
        issues.append(
            e.issue(
                "status",
                f"{res.id} is not_shared and can never be delivered",
                "status pending, rejected or revoked (or change the resource's sharing type)",
            )
        )
    if res.sharing is Sharing.CONDITIONAL:
        if d.fields is None:
            issues.append(
                e.issue(
                    "fields",
                    f"{res.id} is conditional: the approved fields must be listed",
                    f"fields: [...] from {deliverable}",
                )
            )
        if d.valid_until is None:
            issues.append(
                e.issue(
                    "valid_until",
                    f"{res.id} is conditional: the demand needs an end of validity",
                    "valid_until: <timezone-aware timestamp>",
                )
            )
    for i, name in enumerate(d.fields or ()):
        spec = by_name.get(name)
        if spec is None:
            issues.append(e.issue(f"fields[{i}]", f"{name!r} is not a field of {res.id}", deliverable))
        elif spec.grade is Grade.SECRET:
            issues.append(e.issue(f"fields[{i}]", f"{name!r} is secret and never delivered", deliverable))
    if d.fields is not None and len(set(d.fields)) != len(d.fields):
        issues.append(e.issue("fields", "a field is listed twice", "each field once"))
    sensitive = {n for n, f in by_name.items() if f.grade is Grade.SENSITIVE}
    requested = set(d.fields) if d.fields is not None else set(by_name)
    for i, name in enumerate(d.clear):
        if name not in sensitive:
            issues.append(
                e.issue(
                    f"clear[{i}]",
                    f"{name!r} is not a sensitive field of {res.id}",
                    f"sensitive fields: {_names(sensitive)}",
                )
            )
        elif name not in requested:
            issues.append(
                e.issue(
                    f"clear[{i}]",
                    f"{name!r} is granted in clear but not requested in fields",
                    f"fields listed in this demand's fields: {_names(requested & sensitive)}",
                )
            )
    return issues


def check_responsibilities(p: Parsed) -> list[CatalogIssue]:
    issues = _duplicates(p.responsibilities, "resource", "resource")
    resources = {r.value.id for r in p.resources}
    broken = p.declared("resources") - resources
    covered = {r.value.resource for r in p.responsibilities} | p.declared("responsibilities")
    for e in p.responsibilities:
        if e.value.resource not in resources and e.value.resource not in broken:
            issues.append(
                e.issue(
                    "resource",
                    f"unknown resource {e.value.resource!r}",
                    f"a resource of {CATALOG_FILE}: {_names(resources)}",
                )
            )
        contact = e.value.contact
        if not (contact.phone or contact.email):
            issues.append(
                e.issue(
                    "contact",
                    "the contact has neither phone nor email",
                    "contact: {name, phone and/or email}",
                    "contact",
                )
            )
    if RESPONSIBILITY_FILE not in p.broken_files:
        issues += [
            r.issue(
                "responsibility",
                f"no responsibility entry for {r.value.id}",
                f"an entry `resource: {r.value.id}` in {RESPONSIBILITY_FILE}",
            )
            for r in p.resources
            if r.value.id not in covered
        ]
    return issues


def cross_check(p: Parsed) -> list[CatalogIssue]:
    """Every cross-entry rule, in file order."""
    return check_region(p) + check_resources(p) + check_demands(p) + check_responsibilities(p)
