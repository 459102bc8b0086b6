"""Draft catalog-list entries for newly captured tables: fields and types from the database,
safe defaults (not shared, non-key fields secret) for the department to complete; and the columns
the catalog grades secret, which capture excludes at the source."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.source import Column
from sharebus.catalog.load import check_catalog_dir
from sharebus.catalog.models import Catalog, Grade, Resource
from sharebus.catalog.validate import CATALOG_FILE, RESPONSIBILITY_FILE
from sharebus.core import naming
from sharebus.core.errors import ConfigError

# Draft entries carry this at the start of their legal_basis until the department completes them;
# their provisional `secret` grades are not yet decisions, so capture does not act on them.
DRAFT_MARK = "DRAFT"
_RESOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_REGION_NAMES = ("district_code", "region_code", "district")
_PG_TYPES = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "decimal",
    "real": "float",
    "double precision": "float",
    "boolean": "boolean",
    "date": "date",
    "timestamp with time zone": "timestamp",
    # timestamp without zone and time: Debezium sends epoch micros as numbers
    "timestamp without time zone": "integer",
    "time without time zone": "integer",
}
_MARIADB_TYPES = {
    "tinyint": "integer",
    "smallint": "integer",
    "mediumint": "integer",
    "int": "integer",
    "bigint": "integer",
    "year": "integer",
    "decimal": "decimal",
    "float": "float",
    "double": "float",
    "date": "date",
    "timestamp": "timestamp",
    "datetime": "integer",
    "time": "integer",  # epoch millis/micros as numbers
}


def field_type(kind: str, data_type: str) -> str:
    """The catalog FieldType of a database column type, as Debezium encodes it in JSON."""
    table = _MARIADB_TYPES if kind == "mariadb" else _PG_TYPES
    return table.get(data_type.lower(), "string")


@dataclass(frozen=True)
class Contact:
    """Who answers for the drafted resources (the responsibility list needs phone or e-mail)."""

    name: str
    reach: str | None  # an e-mail (has '@') or a phone number

    def yaml(self) -> str:
        if not self.reach:
            return f"{{name: {json.dumps(self.name, ensure_ascii=False)}}}"
        kind = "email" if "@" in self.reach else "phone"
        return f"{{name: {json.dumps(self.name, ensure_ascii=False)}, {kind}: {json.dumps(self.reach)}}}"


@dataclass(frozen=True)
class DraftPlan:
    """The catalog files with the drafts added, checked valid, not yet written."""

    city_dir: Path
    texts: dict[str, str]  # file name -> new text
    drafted: tuple[str, ...]  # resource ids added
    existing: tuple[str, ...]  # resource ids already in the catalog (left alone)
    department_added: bool

    @property
    def changes(self) -> bool:
        return bool(self.drafted) or self.department_added

    @property
    def path(self) -> Path:
        return self.city_dir / CATALOG_FILE

    def write(self) -> None:
        if not self.changes:
            return
        for name, text in self.texts.items():
            path = self.city_dir / name
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)


def load_city_catalog(city_dir: Path) -> Catalog:
    catalog, issues = check_catalog_dir(city_dir)
    if catalog is None:
        raise ConfigError(
            f"catalog {city_dir}",
            f"does not validate ({len(issues)} problems)",
            expected="a valid catalog to add draft entries to",
            actual="; ".join(i.render() for i in issues[:3]),
            fix="run `sharebus catalog validate`, fix the catalog, then re-run (or pass --no-catalog)",
        )
    return catalog


def completed_resources(catalog: Catalog, department: str) -> list[Resource]:
    """The catalog entries the department completed for its captured tables: drafts are not
    decisions yet, so neither capture nor message keys act on them."""
    connector = naming.raw_prefix(department)
    return [
        r
        for r in catalog.resources
        if r.source.connector == connector and not (r.legal_basis or "").startswith(DRAFT_MARK)
    ]


def secret_columns(catalog: Catalog, department: str, tables: tuple[str, ...]) -> tuple[str, ...]:
    """schema.table.column of every field the catalog grades secret in the department's captured
    tables: never shared, so never read from the source (draft entries do not count yet)."""
    return tuple(
        f"{r.source.table}.{f.name}"
        for r in completed_resources(catalog, department)
        if r.source.table in tables
        for f in r.fields
        if f.grade is Grade.SECRET
    )


def _resource_id(department: str, table: str) -> str | None:
    name = table.split(".", 1)[1].lower()
    return f"{department}.{name}" if _RESOURCE_NAME.match(name) else None


def _field(kind: str, col: Column, region: str | None) -> str:
    ftype = field_type(kind, col.data_type)
    if col.primary_key:
        grade = "internal"  # keys are always delivered in clear
    elif col.name == region and ftype == "string":
        grade = "public"
    else:
        grade = "secret"  # never delivered until the department grades it
    parts = [f"name: {col.name}", f"type: {ftype}", f"grade: {grade}"]
    if col.name == region and ftype == "string":
        parts.append("code: region")
    if not col.nullable:
        parts.append("required: true")
    note = f"{col.comment} ({col.data_type})" if col.comment else col.data_type
    parts.append(f"description: {json.dumps(note, ensure_ascii=False)}")
    return "      - {" + ", ".join(parts) + "}"


def resource_yaml(kind: str, department: str, table: str, columns: tuple[Column, ...], now: datetime) -> str:
    """One draft entry of the catalog list, as YAML lines (indented for `resources:`)."""
    rid = _resource_id(department, table)
    names = [c.name for c in columns]
    region = next((n for n in _REGION_NAMES if n in names), None)
    keys = [c.name for c in columns if c.primary_key] or names[:1]
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    lines = [
        "",
        f"  # DRAFT from `sharebus connectors add {department}` at {stamp}: set sharing (and its",
        "  # legal_basis), each field's grade (mask for sensitive fields, code checks), title and",
        "  # description, and drop the DRAFT mark; until then nothing of it is delivered (not shared,",
        "  # non-key fields secret) and capture ignores its provisional grades.",
        f"  - id: {rid}",
        f"    title: {json.dumps(table.split('.', 1)[1], ensure_ascii=False)}",
        f"    department: {department}",
        f"    source: {{connector: cdc.{department}, table: {table}}}",
        f"    primary_key: [{', '.join(keys)}]",
        "    sharing: not_shared",
        f'    legal_basis: "{DRAFT_MARK}: 草稿，待部门确定共享属性及依据'
        ' (not shared until the department completes it)"',
    ]
    if (
        region is not None
        and field_type(kind, next(c.data_type for c in columns if c.name == region)) == "string"
    ):
        lines.append(f"    region_field: {region}")
    else:
        region = None
    lines += ["    update_frequency: realtime", "    fields:"]
    lines += [_field(kind, c, region) for c in columns]
    return "\n".join(lines) + "\n"


def _insert_department(text: str, department: str, name: str) -> str:
    """Add `department` to the `departments:` list (just before the top-level `resources:`)."""
    lines = text.splitlines(keepends=True)
    at = next((i for i, ln in enumerate(lines) if ln.startswith("resources:")), None)
    if at is None:
        raise ConfigError(
            CATALOG_FILE,
            "has no top-level `resources:` list",
            expected="departments: then resources:",
            fix="add the department and resources by hand, or pass --no-catalog",
        )
    while at > 0 and not lines[at - 1].strip():
        at -= 1
    entry = f"  - id: {department}\n    name: {json.dumps(name, ensure_ascii=False)}\n"
    return "".join([*lines[:at], entry, *lines[at:]])


def plan_drafts(
    city_dir: Path,
    kind: str,
    department: str,
    department_name: str,
    columns: dict[str, tuple[Column, ...]],
    contact: Contact,
    *,
    now: datetime | None = None,
) -> DraftPlan:
    """The catalog list with a draft entry for each captured table not in it yet (and the
    department, if new), and their responsibility entries, validated as a whole; ConfigError if
    the result would not validate."""
    catalog = load_city_catalog(city_dir)
    text = (city_dir / CATALOG_FILE).read_text(encoding="utf-8")
    duty = (city_dir / RESPONSIBILITY_FILE).read_text(encoding="utf-8")
    known = {r.id for r in catalog.resources}
    by_source = {(r.source.connector, r.source.table): r.id for r in catalog.resources}
    drafted, existing = [], []
    added_department = department not in {d.id for d in catalog.departments}
    if added_department:
        text = _insert_department(text, department, department_name)
    for table, cols in columns.items():
        rid = _resource_id(department, table)
        source_id = by_source.get((naming.raw_prefix(department), table))
        if source_id is not None or rid in known:
            existing.append(source_id or str(rid))
            continue
        if rid is None or not cols:
            continue
        text = (
            text.rstrip("\n") + "\n" + resource_yaml(kind, department, table, cols, now or datetime.now(UTC))
        )
        duty = (
            duty.rstrip("\n")
            + f"\n  - resource: {rid}\n    unit: {json.dumps(department_name, ensure_ascii=False)}"
            f"\n    contact: {contact.yaml()}\n"
        )
        drafted.append(rid)
    plan = DraftPlan(
        city_dir,
        {CATALOG_FILE: text, RESPONSIBILITY_FILE: duty},
        tuple(drafted),
        tuple(existing),
        added_department,
    )
    if plan.changes:
        _validate(plan)
    return plan


def _validate(plan: DraftPlan) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / plan.city_dir.name
        shutil.copytree(plan.city_dir, copy, ignore=shutil.ignore_patterns("*.tmp"))
        for name, text in plan.texts.items():
            (copy / name).write_text(text, encoding="utf-8")
        catalog, issues = check_catalog_dir(copy)
    if catalog is None:
        raise ConfigError(
            f"draft entries for {plan.path}",
            "would not validate",
            expected="draft entries the catalog accepts",
            actual="; ".join(i.render() for i in issues[:5]),
            fix="pass --contact <e-mail or phone> when the responsibility list needs a"
            " contact; else correct the catalog, or pass --no-catalog",
        )


def draft_summary(plan: DraftPlan) -> dict[str, Any]:
    return {
        "file": str(plan.path),
        "drafted": list(plan.drafted),
        "existing": list(plan.existing),
        "department_added": plan.department_added,
    }
