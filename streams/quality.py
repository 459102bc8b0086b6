"""Data-quality checks of change events on the bus, as pure functions compiled from the catalog:
envelope, key, required fields, value types, code check characters, allowed values, region
codes. A record with any failure goes to the dead-letter topic, attributed to its responsible
unit; it is never delivered half-checked."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sharebus.catalog.models import Catalog, CodeKind, FieldType, Grade, Resource
from sharebus.core import pacing
from sharebus.core.gbcodes import is_valid_resident_id, is_valid_usci
from streams.key_index import REFERENCE as REFERENCE_CHECK
from streams.key_index import KeyIndex, Reference
from streams.policy.envelope import OP_DELETE, OP_TRUNCATE, ROW_OPS, SourceKey, source_key
from streams.quality_tally import REQUIRED_WEIGHT


class Check(StrEnum):
    """Which check a record failed; travels in the dead-letter record's `check` header."""

    ENVELOPE = "envelope"  # not a usable Debezium envelope (op, row image)
    KEY = "key"  # a primary-key field is null or absent
    REQUIRED = "required"  # a required field is null or absent
    TYPE = "type"  # a value is not of the declared type / Debezium form
    CODE = "code"  # a USCI (GB 32100) or resident ID (GB 11643) fails its check character
    VALUE = "value"  # a value outside the field's allowed values
    REGION = "region"  # a region code that is not this city's
    REFERENCE = REFERENCE_CHECK  # not a key of the resource a `references: … dead_letter: true` names


@dataclass(frozen=True, slots=True)
class QualityFailure:
    """One failed check. `detail` shows a value only for public fields and region codes."""

    check: Check
    field: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    """The checks' outcome for one event. `resource` None: the source is no catalog resource
    (e.g. the heartbeat table) and nothing was checked."""

    resource: str | None
    department: str | None
    responsible_unit: str | None
    failures: tuple[QualityFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> str:
        """One line for the dead-letter `reason` header."""
        return "; ".join(f"{f.check}({f.field or '-'}): {f.detail}" for f in self.failures)


_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


TYPE_CHECKS: Mapping[FieldType, Callable[[Any], bool]] = {
    FieldType.STRING: lambda v: isinstance(v, str),
    FieldType.INTEGER: _is_int,
    FieldType.DECIMAL: lambda v: isinstance(v, str) and _DECIMAL.fullmatch(v) is not None,
    FieldType.FLOAT: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    FieldType.BOOLEAN: lambda v: isinstance(v, bool),
    FieldType.DATE: _is_int,
    FieldType.TIMESTAMP: lambda v: isinstance(v, str) and _TIMESTAMP.fullmatch(v) is not None,
}
"""Is a value in the form Debezium gives this type (JSON, decimal.handling.mode=string)?"""

_PATTERNS = {FieldType.DECIMAL: _DECIMAL, FieldType.TIMESTAMP: _TIMESTAMP}

EXACT_TYPES: Mapping[FieldType, tuple[type, ...]] = {
    FieldType.STRING: (str,),
    FieldType.INTEGER: (int,),  # type(True) is bool: booleans never pass as integers
    FieldType.DECIMAL: (str,),
    FieldType.FLOAT: (int, float),
    FieldType.BOOLEAN: (bool,),
    FieldType.DATE: (int,),
    FieldType.TIMESTAMP: (str,),
}
"""The exact Python types of each catalog type's Debezium JSON form (TYPE_CHECKS' fast path)."""

TYPE_FORMS: Mapping[FieldType, str] = {
    FieldType.STRING: "a string",
    FieldType.INTEGER: "an integer",
    FieldType.DECIMAL: "a decimal string such as '12.50'",
    FieldType.FLOAT: "a number",
    FieldType.BOOLEAN: "true or false",
    FieldType.DATE: "an integer (days since 1970-01-01)",
    FieldType.TIMESTAMP: "an ISO-8601 string with zone, e.g. 2025-01-01T00:00:00Z",
}


@dataclass(frozen=True, slots=True)
class FieldRule:
    """The checks of one field, precompiled."""

    name: str
    type: FieldType
    type_ok: Callable[[Any], bool]
    required: bool
    key: bool
    code: CodeKind | None
    values: frozenset[str] | None
    region: bool
    show_value: bool
    # Fast path: a value whose exact type is one of these (and that matches `pattern`, for
    # decimals and timestamps) passes the type check without calling `type_ok`.
    exact_types: tuple[builtins.type, ...] = ()
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class ResourceChecks:
    """The checks of one resource; `district_codes` are the codes its region field may hold,
    `region_codes` those a `code: region` field may hold (the districts and the city)."""

    resource: str
    department: str
    responsible_unit: str | None
    rules: tuple[FieldRule, ...]
    delete_rules: tuple[FieldRule, ...]
    district_codes: frozenset[str]
    region_codes: frozenset[str]
    references: tuple[Reference, ...] = ()  # its fields' consistency rules
    index_key: str | None = None  # its key, when a consistency rule references this resource
    # Derived: `check_row` finding nothing, decided by generated straight-line code (False: ask
    # `check_row`), for after- and before-images; and the verdict of a row that passes, reused.
    passes: Callable[[Mapping[str, Any]], bool] = field(init=False)
    passes_delete: Callable[[Mapping[str, Any]], bool] = field(init=False)
    ok: QualityVerdict = field(init=False)
    field_names: tuple[str, ...] = field(init=False)
    field_weights: tuple[int, ...] = field(init=False)  # completeness: key and required fields weigh 2
    enforced: tuple[Reference, ...] = field(init=False)  # the rules whose mismatch dead-letters

    def __post_init__(self) -> None:
        derived = {
            "passes": compile_passes(self.rules, self.district_codes, self.region_codes),
            "passes_delete": compile_passes(self.delete_rules, self.district_codes, self.region_codes),
            "ok": QualityVerdict(self.resource, self.department, self.responsible_unit, ()),
            "field_names": tuple(rule.name for rule in self.rules),
            "field_weights": tuple(REQUIRED_WEIGHT if rule.required else 1 for rule in self.rules),
            "enforced": tuple(ref for ref in self.references if ref.dead_letter),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)


# The check-character functions cost 4-5 µs per call; the same codes recur in every update of
# the same row, so their (pure) results are memoised per process.
_valid_usci = lru_cache(maxsize=1 << 16)(is_valid_usci)
_valid_resident_id = lru_cache(maxsize=1 << 16)(is_valid_resident_id)


def _code_ok(kind: CodeKind, value: str, region_codes: frozenset[str]) -> bool:
    if kind is CodeKind.USCI:
        return _valid_usci(value)
    if kind is CodeKind.RESIDENT_ID:
        return _valid_resident_id(value)
    return value in region_codes


_CODE_NAMES = {
    CodeKind.USCI: "unified social credit code fails its GB 32100 check character",
    CodeKind.RESIDENT_ID: "resident ID number fails its GB 11643 check character",
    CodeKind.REGION: "not a region code of this city",
}


def check_field(rule: FieldRule, value: Any, checks: ResourceChecks) -> QualityFailure | None:
    """The first check `value` fails for `rule`, or None."""
    name = rule.name
    if value is None:
        if rule.key:
            return QualityFailure(Check.KEY, name, "key field is null or absent")
        if rule.required:
            return QualityFailure(Check.REQUIRED, name, "required field is null or absent")
        return None
    if not rule.type_ok(value):
        form = TYPE_FORMS[rule.type]
        return QualityFailure(Check.TYPE, name, f"expected {form}, got {type(value).__name__}")
    if rule.region:
        if value not in checks.district_codes:
            return QualityFailure(Check.REGION, name, f"{value!r} is not a district of this city")
        return None
    if rule.code is not None and not _code_ok(rule.code, value, checks.region_codes):
        shown = f" ({value!r})" if rule.show_value or rule.code is CodeKind.REGION else ""
        return QualityFailure(Check.CODE, name, _CODE_NAMES[rule.code] + shown)
    if rule.values is not None and value not in rule.values:
        shown = f"{value!r} is" if rule.show_value else "value is"
        return QualityFailure(Check.VALUE, name, f"{shown} not one of {sorted(rule.values)}")
    return None


def check_row(
    checks: ResourceChecks, row: Mapping[str, Any], *, delete: bool = False
) -> tuple[QualityFailure, ...]:
    """Every failed check of a row image. For a delete's before-image only the key and the
    region field are checked (what routing the tombstone needs). The router asks only for rows
    that `ResourceChecks.passes` did not pass."""
    failures: list[QualityFailure] = []
    get = row.get
    for rule in checks.delete_rules if delete else checks.rules:
        value = get(rule.name)
        if value is None and not (rule.key or rule.required):
            continue
        failure = check_field(rule, value, checks)
        if failure is not None:
            failures.append(failure)
    return tuple(failures)


def _passes_source(rules: tuple[FieldRule, ...], names: dict[str, object]) -> str:
    """Straight-line source of `passes(row)`: per field, the null rule of `check_row` and the
    common case of `check_field` (exact Debezium types only); constants go into `names`."""
    lines = ["def passes(row):", "    get = row.get"]
    for i, rule in enumerate(rules):
        tests: list[str] = []
        classes = [f"_t{i}_{k}" for k in range(len(rule.exact_types))]
        for cls, t in zip(classes, rule.exact_types, strict=True):
            names[cls] = t
        tests.append(" and ".join(f"x.__class__ is not {c}" for c in classes) or "True")
        if rule.pattern is not None:
            names[f"_p{i}"] = rule.pattern.fullmatch
            tests.append(f"_p{i}(x) is None")
        if rule.region:
            tests.append("x not in _districts")
        else:
            if rule.code is CodeKind.USCI:
                tests.append("not _usci(x)")
            elif rule.code is CodeKind.RESIDENT_ID:
                tests.append("not _resident_id(x)")
            elif rule.code is CodeKind.REGION:
                tests.append("x not in _region_codes")
            if rule.values is not None:
                names[f"_v{i}"] = rule.values
                tests.append(f"x not in _v{i}")
        lines.append(f"    x = get({rule.name!r})")
        if rule.key or rule.required:
            lines.append("    if x is None: return False")
            lines += [f"    if {test}: return False" for test in tests]
        else:
            lines.append("    if x is not None:")
            lines += [f"        if {test}: return False" for test in tests]
    lines.append("    return True")
    return "\n".join(lines)


@lru_cache(maxsize=1 << 16)
def compile_passes(
    rules: tuple[FieldRule, ...], district_codes: frozenset[str], region_codes: frozenset[str]
) -> Callable[[Mapping[str, Any]], bool]:
    """A function telling, without building failures, whether `check_row` over `rules` finds
    nothing (the common case); the router asks `check_row` only when it returns False.
    Generated once per distinct rule set (resources of one shape, and every publish that leaves a
    resource as it was, share it: generating costs ~0.3 ms)."""
    names: dict[str, object] = {
        "_districts": district_codes,
        "_region_codes": region_codes,
        "_usci": _valid_usci,
        "_resident_id": _valid_resident_id,
    }
    exec(compile(_passes_source(rules, names), "<quality checks>", "exec"), names)
    passes: Callable[[Mapping[str, Any]], bool] = names["passes"]  # type: ignore[assignment]
    return passes


def _rules(res: Resource) -> tuple[FieldRule, ...]:
    return tuple(
        FieldRule(
            name=f.name,
            type=f.type,
            type_ok=TYPE_CHECKS[f.type],
            exact_types=EXACT_TYPES[f.type],
            pattern=_PATTERNS.get(f.type),
            required=f.required or f.name in res.primary_key,
            key=f.name in res.primary_key,
            code=f.code,
            values=frozenset(f.values) if f.values is not None else None,
            region=f.name == res.region_field,
            show_value=f.grade is Grade.PUBLIC,
        )
        for f in res.fields
    )


class QualityChecks:
    """The compiled checks of a catalog, looked up by event source."""

    __slots__ = ("_by_source", "inputs", "keys", "resources")

    def __init__(
        self,
        resources: Mapping[SourceKey, ResourceChecks],
        inputs: Mapping[str, object] | None = None,
        keys: KeyIndex | None = None,
    ) -> None:
        self._by_source = dict(resources)
        self.resources = {c.resource: c for c in resources.values()}
        self.inputs = dict(inputs or {})  # what each resource's checks were made from
        self.keys = (
            keys if keys is not None else KeyIndex()
        )  # referenced resources' keys, kept across versions

    @property
    def by_source(self) -> Mapping[SourceKey, ResourceChecks]:
        """The checks of each resource, by its events' source."""
        return self._by_source

    def check_event(self, event: Mapping[str, Any]) -> QualityVerdict:
        """Check one Debezium change event (a dict, JSON with schemas disabled)."""
        key = source_key(event)
        checks = self._by_source.get(key) if key is not None else None
        if checks is None:
            return QualityVerdict(None, None, None, ())
        op = event.get("op")
        failures: tuple[QualityFailure, ...]
        if op == OP_TRUNCATE:
            failures = ()
        elif not isinstance(op, str) or op not in ROW_OPS:
            failures = (QualityFailure(Check.ENVELOPE, None, f"unknown op {op!r}"),)
        else:
            image = "before" if op == OP_DELETE else "after"
            row = event.get(image)
            if isinstance(row, dict):
                delete = op == OP_DELETE
                enforced = () if delete else unmatched(checks, row, self.keys)
                if (checks.passes_delete if delete else checks.passes)(row) and not enforced:
                    return checks.ok
                failures = check_row(checks, row, delete=delete) + enforced
            else:
                failures = (QualityFailure(Check.ENVELOPE, None, f"op {op} without {image}"),)
        return QualityVerdict(checks.resource, checks.department, checks.responsible_unit, failures)


def unmatched(checks: ResourceChecks, row: Mapping[str, Any], keys: KeyIndex) -> tuple[QualityFailure, ...]:
    """The failures of a row's values that its dead-lettering consistency rules do not find."""
    if not checks.enforced:
        return ()
    out: list[QualityFailure] = []
    for ref in checks.enforced:
        value = row.get(ref.field)
        if value is not None and not keys.has(ref.resource, value):
            out.append(QualityFailure(Check.REFERENCE, ref.field, f"not a key of {ref.resource}"))
    return tuple(out)


def references_of(res: Resource) -> tuple[Reference, ...]:
    """A resource's consistency rules, compiled."""
    return tuple(
        Reference(f.name, f.references.resource, f.references.dead_letter)
        for f in res.fields
        if f.references is not None
    )


def compile_checks(
    catalog: Catalog, previous: QualityChecks | None = None, keys: KeyIndex | None = None
) -> QualityChecks:
    """The quality checks of every resource of a validated catalog; with `previous` (those in
    force), a resource whose definition, responsible unit and region did not change keeps its
    checks, and the key index goes on (else `keys`, or a new one)."""
    districts = frozenset(d.code for d in catalog.districts)
    units = {r.resource: r.unit for r in catalog.responsibilities}
    referenced = {ref.resource for res in catalog.resources for ref in references_of(res)}
    compiled: dict[SourceKey, ResourceChecks] = {}
    inputs: dict[str, object] = {}
    for res in catalog.resources:
        pacing.pace()  # beside the routing thread when a worker applies a publish
        schema, _, table = res.source.table.partition(".")
        indexed = res.id in referenced and len(res.primary_key) == 1
        inputs[res.id] = made_of = (res, units.get(res.id), districts, catalog.city.code, indexed)
        kept = previous.resources.get(res.id) if previous is not None else None
        if kept is not None and previous is not None and previous.inputs.get(res.id) == made_of:
            compiled[(res.source.connector, schema, table)] = kept
            continue
        rules = _rules(res)
        delete_rules = tuple(r for r in rules if r.key or r.region)
        region_codes = districts | {catalog.city.code}
        compiled[(res.source.connector, schema, table)] = ResourceChecks(
            resource=res.id,
            department=res.department,
            responsible_unit=units.get(res.id),
            rules=rules,
            delete_rules=delete_rules,
            district_codes=districts,
            region_codes=region_codes,
            references=references_of(res),
            index_key=res.primary_key[0] if indexed else None,
        )
    return QualityChecks(compiled, inputs, previous.keys if previous is not None else keys)
