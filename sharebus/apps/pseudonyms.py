"""Pseudonym key rotation: which keys are in play, and the table mapping an earlier key's
pseudonyms of a field to the current key's — made from the field's values at the source (the bus
keeps no clear value), so districts can carry their joins over to the new pseudonyms."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from sharebus.apps.district.live import live_catalog
from sharebus.apps.district.source_rows import read_rows, source_target
from sharebus.catalog.models import MaskKind, Resource
from sharebus.core.audit import PSEUDONYM_MAP, AuditLog, event
from sharebus.core.errors import ConfigError
from sharebus.core.keys import previous_pseudonym_keys, pseudonym_key
from sharebus.core.settings import Settings
from streams.policy.masks import make_pseudonym, pseudonym_key_id

COLUMNS = ("old_key_id", "old_pseudonym", "new_key_id", "new_pseudonym")
PROGRESS_EVERY = 100_000


@dataclass(frozen=True)
class KeyIds:
    """The current pseudonym key's id and those of the keys it replaced (newest first)."""

    current: str
    previous: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "previous": list(self.previous)}

    @classmethod
    def of(cls, current: bytes, previous: tuple[bytes, ...]) -> KeyIds:
        return cls(pseudonym_key_id(current), tuple(pseudonym_key_id(k) for k in previous))


def key_ids(settings: Settings) -> KeyIds:
    previous: tuple[bytes, ...] = ()
    if settings.pseudonym_previous_keys is not None:
        previous = previous_pseudonym_keys(settings)
    return KeyIds.of(pseudonym_key(settings), previous)


@dataclass(frozen=True)
class MapSummary:
    resource: str
    field: str
    keys: KeyIds
    rows: int  # source rows read
    lines: int  # mapping lines written

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "field": self.field,
            "keys": self.keys.to_dict(),
            "rows": self.rows,
            "lines": self.lines,
        }


def _pseudonymised(settings: Settings, resource_id: str, field: str) -> tuple[Resource, str]:
    catalog = live_catalog(settings)
    resource = catalog.resource(resource_id)
    if resource is None:
        raise ConfigError(
            f"resource {resource_id!r}",
            "is not in the live catalog",
            expected="a resource id such as " + ", ".join(r.id for r in catalog.resources[:3]),
            fix="see `sharebus catalog show`",
        )
    spec = resource.field(field)
    if spec is None or spec.mask is not MaskKind.PSEUDONYM:
        which = [f.name for f in resource.fields if f.mask is MaskKind.PSEUDONYM]
        raise ConfigError(
            f"field {resource_id}.{field}",
            "is not delivered as a pseudonym" if spec is not None else "is not a field of the resource",
            expected="a field with mask pseudonym: " + (", ".join(which) or "(the resource has none)"),
            fix="name one of those fields",
        )
    return resource, catalog.version


def write_map(
    settings: Settings, resource_id: str, field: str, out: IO[str], progress: Callable[[str], None]
) -> MapSummary:
    """Write the CSV (`COLUMNS`) mapping each earlier key's pseudonym of every value of `field`
    at the source to the current key's; one line per source row and earlier key (a value in many
    rows repeats: `sort -u` folds them). Audited as `pseudonym.map`."""
    resource, version = _pseudonymised(settings, resource_id, field)
    current, previous = pseudonym_key(settings), previous_pseudonym_keys(settings)
    keys = KeyIds.of(current, previous)
    new = make_pseudonym(current)
    olds = [(kid, make_pseudonym(k)) for kid, k in zip(keys.previous, previous, strict=True)]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = lines = 0
    for row in read_rows(source_target(settings, resource), resource, None):
        rows += 1
        if rows % PROGRESS_EVERY == 0:
            progress(f"  {rows:,} rows read, {lines:,} lines written")
        value = row.get(field)
        if value is None:
            continue
        mapped = new(value)
        for kid, old in olds:
            writer.writerow((kid, old(value), keys.current, mapped))
            lines += 1
    summary = MapSummary(resource_id, field, keys, rows, lines)
    AuditLog(settings).write(
        [
            event(
                settings,
                PSEUDONYM_MAP,
                f"{resource_id}.{field}",
                "pseudonyms",
                catalog_version=version,
                detail={"from": list(keys.previous), "to": keys.current, "rows": rows},
            )
        ]
    )
    return summary
