"""`reconcile`: compare a district database with the policy projection of the source tables —
counts, then per-row hashes by key — and report missing, extra and differing rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from connectors.dburl import DbTarget
from sharebus.apps.district.live import compile_live, live_catalog
from sharebus.apps.district.naming import table_name
from sharebus.apps.district.normalize import digest, key_of, row_values
from sharebus.apps.district.projection import Expected, Layout, layout_of, project, region_codes
from sharebus.apps.district.source_rows import read_rows, source_target
from sharebus.apps.district.store import TableState, read_tables
from sharebus.apps.district.target import connect_target
from sharebus.catalog.models import Catalog, Resource
from sharebus.core.errors import ConfigError
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from streams.quality import compile_checks

SourceFor = Callable[[Resource], DbTarget]


@dataclass
class ResourceReport:
    """One resource of one subscriber: counts, differences, and a sample of them by key."""

    resource: str
    table: str
    demand_id: str | None
    expected: int = 0
    district: int = 0
    missing: int = 0
    extra: int = 0
    differing: int = 0
    scanned: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def differences(self) -> int:
        return self.missing + self.extra + self.differing

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "table": self.table,
            "demand_id": self.demand_id,
            "expected": self.expected,
            "district": self.district,
            "missing": self.missing,
            "extra": self.extra,
            "differing": self.differing,
            "differences": self.differences,
            "source_rows_scanned": self.scanned,
            "dead_letters": self.dead_letters,
            "seconds": round(self.seconds, 3),
            "samples": self.samples,
        }


@dataclass
class ReconcileReport:
    subscriber: str
    schema: str
    policy_version: str
    at: datetime
    resources: list[ResourceReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def differences(self) -> int:
        return sum(r.differences for r in self.resources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscriber": self.subscriber,
            "schema": self.schema,
            "policy_version": self.policy_version,
            "at": self.at.isoformat(),
            "ok": self.differences == 0,
            "differences": self.differences,
            "seconds": round(self.seconds, 3),
            "resources": [r.to_dict() for r in self.resources],
        }


def _district_rows(
    conn: psycopg.Connection[Any], schema: str, table: str, state: TableState, layout: Layout
) -> dict[bytes, tuple[Any, ...]]:
    present = [f for f in layout.fields if f in state.columns]
    if any(k not in state.columns for k in layout.keys):
        return {}
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, present)), sql.Identifier(schema, table)
    )
    out: dict[bytes, tuple[Any, ...]] = {}
    with conn.cursor(name=f"sharebus_reconcile_{table}") as cur:
        cur.itersize = 5000
        cur.execute(query)
        for values in cur:
            row = dict(zip(present, values, strict=True))
            out[key_of(layout.kinds, layout.keys, row)] = row_values(layout.kinds, layout.fields, row)
    return out


def compare(
    report: ResourceReport,
    layout: Layout,
    expected: Expected,
    actual: Mapping[bytes, tuple[Any, ...]],
    samples: int,
) -> None:
    """Fill `report` with the differences between the projection and the district rows."""
    report.expected, report.district = len(expected.rows), len(actual)
    report.scanned, report.dead_letters = expected.scanned, expected.dead_letters

    def sample(kind: str, key: bytes, fields: list[str] | None = None) -> None:
        if len(report.samples) < samples:
            values = orjson.loads(key)
            entry: dict[str, Any] = {"kind": kind, "key": dict(zip(layout.keys, values, strict=True))}
            if fields is not None:
                entry["fields"] = fields
            report.samples.append(entry)

    for key, values in expected.rows.items():
        have = actual.get(key)
        if have is None:
            report.missing += 1
            sample("missing", key)
        elif digest(have) != digest(values):
            report.differing += 1
            fields = [f for f, a, b in zip(layout.fields, values, have, strict=True) if a != b]
            sample("differing", key, fields)
    for key in actual.keys() - expected.rows.keys():
        report.extra += 1
        sample("extra", key)


def reconcile(
    settings: Settings,
    subscriber: str,
    target: DbTarget,
    schema: str,
    echo: Echo,
    *,
    resources: Sequence[str] = (),
    catalog: Catalog | None = None,
    source_for: SourceFor | None = None,
    samples: int = 10,
    now: datetime | None = None,
) -> ReconcileReport:
    """Compare `subscriber`'s tables in `schema` of `target` with the projection at `now` of the
    source tables under the policy in force (the live catalog unless `catalog` is given): every
    resource it is entitled to or holds a table of, or only `resources`."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    catalog = catalog or live_catalog(settings)
    policy = compile_live(settings, catalog)
    checks = compile_checks(catalog)
    if subscriber not in catalog.subscriber_ids():
        raise ConfigError(
            f"subscriber {subscriber}",
            "is not a subscriber of the catalog",
            expected="a district code or an extra subscriber id of " + catalog.city.id,
            actual=subscriber,
            fix="see `sharebus catalog show`",
        )
    entitled = {e.resource: e for e in policy.entitlements(now) if e.subscriber == subscriber}
    source_for = source_for or (lambda res: source_target(settings, res))
    report = ReconcileReport(subscriber, schema, policy.version, now)
    with connect_target(target, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        tables = read_tables(conn, schema)
        chosen = [r for r in catalog.resources if r.id in entitled or table_name(r.id) in tables]
        if resources:
            unknown = sorted(set(resources) - {r.id for r in catalog.resources})
            if unknown:
                raise ConfigError(
                    f"resource {', '.join(unknown)}",
                    "is not in the catalog",
                    expected=", ".join(r.id for r in catalog.resources),
                    actual=", ".join(unknown),
                    fix="name a resource id of the catalog",
                )
            chosen = [r for r in catalog.resources if r.id in resources]
        for res in chosen:
            t0 = time.monotonic()
            ent = entitled.get(res.id)
            table = table_name(res.id)
            layout = layout_of(catalog.city.id, res, ent)
            state = tables.get(table)
            actual = _district_rows(conn, schema, table, state, layout) if state is not None else {}
            echo(f"  {res.id}: {len(actual):,} rows in {schema}.{table}")
            expected = Expected()
            if ent is not None:
                codes = region_codes(policy, res.id, subscriber, now)
                rows = read_rows(source_for(res), res, codes)
                expected = project(policy, checks, res, subscriber, layout, rows, now)
            echo(f"  {res.id}: {len(expected.rows):,} rows projected from {expected.scanned:,} source rows")
            rep = ResourceReport(res.id, f"{schema}.{table}", ent.demand_id if ent is not None else None)
            compare(rep, layout, expected, actual, samples)
            rep.seconds = time.monotonic() - t0
            report.resources.append(rep)
    report.seconds = time.monotonic() - started
    return report
