"""The catalog's consistency rules checked across resources: a `references` field names an existing
resource with a single-field key of the same type (the router looks its values up in that key)."""

from __future__ import annotations

from sharebus.catalog.issues import CatalogIssue
from sharebus.catalog.models import FieldSpec, Resource
from sharebus.catalog.validate import Parsed


def check_references(p: Parsed) -> list[CatalogIssue]:
    """Every `references` of every resource, against the resources that parsed."""
    resources = {e.value.id: e.value for e in p.resources}
    declared = p.declared("resources")
    issues: list[CatalogIssue] = []
    for e in p.resources:
        for index, spec in enumerate(e.value.fields):
            ref = spec.references
            if ref is None:
                continue
            where = ("fields", index, "references")
            field = f"fields.{spec.name}.references"
            target = resources.get(ref.resource)
            if target is None:
                if ref.resource not in declared:  # one that failed to parse is reported already
                    allowed = "the id of a resource of the catalog list, e.g. market.enterprise"
                    issues.append(e.issue(field, f"unknown resource {ref.resource!r}", allowed, *where))
                continue
            key = _single_key(target)
            if key is None:
                problem = f"{ref.resource} has a key of {len(target.primary_key)} fields"
                allowed = "a resource whose primary key is one field (its values are looked up)"
                issues.append(e.issue(field, problem, allowed, *where))
            elif key.type is not spec.type:
                problem = f"{spec.name} is {spec.type}, {ref.resource}'s key {key.name} is {key.type}"
                issues.append(e.issue(field, problem, f"a field of type {key.type}", *where))
            elif target.id == e.value.id and spec.name == key.name:
                issues.append(e.issue(field, "a key cannot reference itself", "another field", *where))
    return issues


def _single_key(res: Resource) -> FieldSpec | None:
    if len(res.primary_key) != 1:
        return None
    return res.field(res.primary_key[0])
