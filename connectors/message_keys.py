"""Which columns key a captured table's messages: the catalog's declared `primary_key`, never a
sensitive column. A key travels unmasked in every message and tombstone to every subscriber, and
districts delete by it, so onboarding decides it here (pure, over the database's columns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.draft_catalog import completed_resources
from connectors.preflight import Check, fail, ok
from connectors.source import Column
from sharebus.catalog.models import Catalog, CodeKind, Grade, Resource

# Column names that say a personal identifier (resident ID, passport, phone): never a message key
# unless the catalog grades the column public or internal (then the department has decided).
_IDENTIFIER_NAMES = frozenset(
    {
        "id_number",
        "id_no",
        "idno",
        "id_card",
        "idcard",
        "id_card_no",
        "identity_no",
        "identity_number",
        "citizen_id",
        "resident_id",
        "sfzh",
        "sfzhm",
        "passport_no",
        "passport_number",
        "phone",
        "mobile",
        "mobile_phone",
        "telephone",
        "sjhm",
    }
)
# What a column's comment says of a personal identifier (resident ID, passport, mobile number).
_IDENTIFIER_COMMENTS = ("身份证", "身份号码", "护照", "手机", "电话号码")
_SENSITIVE_GRADES = (Grade.SENSITIVE, Grade.SECRET)


@dataclass(frozen=True)
class KeyPlan:
    """The key check of each table, and the tables keyed by other columns than their primary key."""

    checks: tuple[Check, ...]
    key_columns: tuple[tuple[str, tuple[str, ...]], ...]  # (schema.table, columns) for Debezium


def declared_resource(catalog: Catalog | None, department: str, table: str) -> Resource | None:
    """The completed catalog entry of `table` captured for `department` (drafts do not count)."""
    if catalog is None:
        return None
    return next((r for r in completed_resources(catalog, department) if r.source.table == table), None)


def _sensitive(column: Column, table: str, resource: Resource | None, flagged: frozenset[str]) -> str | None:
    """Why `column` of `table` may not key messages, or None."""
    if f"{table}.{column.name}" in flagged:
        return "masked or excluded at the source (--mask-column/--exclude-column)"
    spec = resource.field(column.name) if resource is not None else None
    if spec is not None:
        if spec.grade in _SENSITIVE_GRADES:
            return f"graded {spec.grade.value} in the catalog"
        return "a resident ID (code resident_id)" if spec.code is CodeKind.RESIDENT_ID else None
    if column.name.lower() in _IDENTIFIER_NAMES:
        return "named like a personal identifier"
    if any(word in column.comment for word in _IDENTIFIER_COMMENTS):
        return f"described as a personal identifier ({column.comment})"
    return None


def _table_plan(
    table: str,
    columns: tuple[Column, ...],
    resource: Resource | None,
    flagged: frozenset[str],
) -> tuple[Check, tuple[str, ...] | None]:
    name = f"message key of {table}"
    by_name = {c.name: c for c in columns}
    primary = tuple(c.name for c in columns if c.primary_key)
    wanted = resource.primary_key if resource is not None else primary
    where = f"catalog entry {resource.id}" if resource is not None else "the catalog entry drafted for it"
    fix_key = (
        f"give {where} a primary_key of non-sensitive columns that identify a row (a unique, NOT NULL"
        " key such as a record number): onboarding then keys messages by it; or key the table by one"
    )
    if not wanted:
        return ok(name, "no primary key (events carry no key)", "a non-sensitive key"), None
    missing = [c for c in wanted if c not in by_name]
    if missing:
        return fail(
            name,
            f"the catalog's primary_key names {', '.join(missing)}, not a column of the table",
            f"the columns of {resource.id if resource else table}'s primary_key in the table",
            f"correct primary_key in the catalog entry (the table has {', '.join(by_name)})",
        ), None
    bad = [(c, why) for c in wanted if (why := _sensitive(by_name[c], table, resource, flagged))]
    if bad:
        return fail(
            name,
            "keyed by " + "; ".join(f"{c} ({why})" for c, why in bad),
            "a key of non-sensitive columns: every message and tombstone carries it unmasked to"
            " every subscriber",
            fix_key,
        ), None
    if set(wanted) == set(primary):
        return ok(name, ", ".join(wanted), "the catalog's primary_key, non-sensitive"), None
    nullable = [c for c in wanted if by_name[c].nullable]
    if nullable:
        return fail(
            name,
            f"the catalog's key {', '.join(wanted)} (not the table's primary key"
            f" {', '.join(primary) or '(none)'}) may be NULL in {', '.join(nullable)}",
            "a NOT NULL key: a row without one could not be delivered or deleted",
            f"make {', '.join(nullable)} NOT NULL (and unique), or correct the catalog's primary_key",
        ), None
    return ok(
        name,
        f"{', '.join(wanted)} (the catalog's primary_key; the table's is {', '.join(primary) or '(none)'})",
        "a non-sensitive key, unique in the table (the department's promise)",
    ), tuple(wanted)


def plan_keys(
    department: str,
    columns: Mapping[str, tuple[Column, ...]],
    catalog: Catalog | None,
    flagged: tuple[str, ...] = (),
) -> KeyPlan:
    """The key of every table in `columns`: the catalog's primary_key when it has a completed entry,
    else the table's primary key; refused when sensitive (graded so, masked or excluded at the
    source — `flagged`, schema.table.column — or named like a personal identifier)."""
    checks: list[Check] = []
    keyed: list[tuple[str, tuple[str, ...]]] = []
    marked = frozenset(flagged)
    for table, cols in columns.items():
        check, custom = _table_plan(table, cols, declared_resource(catalog, department, table), marked)
        checks.append(check)
        if custom is not None:
            keyed.append((table, custom))
    return KeyPlan(tuple(checks), tuple(keyed))
