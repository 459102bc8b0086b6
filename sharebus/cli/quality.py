"""`sharebus quality scorecard | report`: each resource's data-quality indicators and score over
the last days, per resource, responsible unit or department, ranked for the data authority; and a
unit's monthly report as a self-contained HTML page."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from sharebus.apps.objections import read_objections
from sharebus.catalog.load import load_catalog
from sharebus.cli.catalog import catalog_folder, city_option, dir_option
from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.errors import ConfigError
from sharebus.core.settings import get_settings
from streams.metrics.api import fetch_report
from streams.objections import Objection
from streams.quality_report import UnitMonth, render
from streams.quality_score import (
    BY,
    WEIGHTS,
    GroupScore,
    ResourceScore,
    group_name,
    grouped,
    ranked,
    scorecard_of,
    trend,
)


@click.group("quality")
def quality() -> None:
    """Data quality as the bus sees it: validity, completeness, timeliness and freshness of each
    resource's records, turned into one score (the formula: README, "Data quality")."""


@quality.command("scorecard")
@click.option("--by", type=click.Choice(BY), default="resource", show_default=True, help="What one row is.")
@click.option("--since", default="30d", show_default=True, help="Days counted: 7d, 30d, 12w …")
@click.option("--rank", is_flag=True, help="Best score first, with its place (the data authority's ranking).")
@click.option("--daily", is_flag=True, help="One score per day and row instead (the trend).")
@city_option
@dir_option
@json_option
@handle_errors
def scorecard_command(
    by: str, since: str, rank: bool, daily: bool, city: str | None, directory: Path | None, as_json: bool
) -> None:
    """Each resource's (unit's, department's) quality indicators and score, from the figures the
    router counted of every record and the catalog's declared update frequencies."""
    settings = get_settings()
    catalog = load_catalog(catalog_folder(city, directory))
    report = fetch_report(settings, "quality", {"since": since, "daily": "yes" if daily else "no"})
    now = datetime.now(UTC)
    if daily:
        days = daily_scores(catalog, report, by=by, now=now, objections=read_objections(settings))
        if as_json:
            emit_json({"by": by, "since": report["since"], "until": report["until"], "days": days})
            return
        click.echo(f"quality score per day by {by}, {report['since']} → {report['until']}")
        names = sorted({name for day in days for name in day["scores"]})
        lines = [[name, *(day["scores"].get(name, "") for day in days)] for name in names]
        click.echo(table(lines, [by, *(day["day"][5:] for day in days)]))
        return
    scores = scorecard_of(catalog, report, now, objections=read_objections(settings))
    rows: list[ResourceScore | GroupScore] = [*scores] if by == "resource" else [*grouped(scores, by)]
    ordered = ranked(rows) if rank else rows
    body = {
        "by": by,
        "since": report["since"],
        "until": report["until"],
        "catalog_version": catalog.version,
        "weights": dict(WEIGHTS),
        "rows": [
            {**({"rank": i} if rank else {}), **row.to_dict()} for i, row in enumerate(ordered, start=1)
        ],
    }
    if as_json:
        emit_json(body)
        return
    click.echo(f"quality by {by}, {report['since']} → {report['until']} (catalog {catalog.version[:12]})")
    click.echo(table(_lines(ordered, by, rank), _headers(by, rank)))


def _headers(by: str, rank: bool) -> list[str]:
    first = ["#"] if rank else []
    if by == "resource":
        return [*first, "resource", "unit", "score", "valid", "complete", "timely", "records", "problems"]
    return [*first, by, "resources", "score", "valid", "complete", "timely", "stale", "records"]


def _lines(rows: list[Any], by: str, rank: bool) -> list[list[object]]:
    out: list[list[object]] = []
    for i, r in enumerate(rows, start=1):
        first: list[object] = [i] if rank else []
        shares = [f"{r.score:.1f}", _pct(r.validity), _pct(r.completeness), _pct(r.timeliness)]
        if isinstance(r, ResourceScore):
            out.append([*first, r.resource, r.unit, *shares, r.seen, "; ".join(r.problems) or "-"])
        else:
            out.append([*first, r.name, r.resources, *shares, r.stale, r.seen])
    return out


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def days_between(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def daily_scores(
    catalog: Any,
    report: dict[str, Any],
    *,
    by: str,
    now: datetime,
    objections: Iterable[Objection] = (),
) -> list[dict[str, Any]]:
    """Per day: the score of each row (`by`) from that day's figures alone, freshness judged at
    the day's end (or now, today); a unit's or department's is the mean of its resources'."""
    days = days_between(date.fromisoformat(report["since"]), now.date())
    scores = trend(catalog, report["series"], report["last_changes"], days, now, objections=objections)
    if by == "resource":
        return [{"day": d, "scores": {r: round(v, 1) for r, v in scores[d].items()}} for d in days]
    units = {r.resource: r.unit for r in catalog.responsibilities}
    group = {res.id: group_name(by, units.get(res.id, ""), res.department) for res in catalog.resources}
    out: list[dict[str, Any]] = []
    for d in days:
        sums: dict[str, list[float]] = {}
        for resource, score in scores[d].items():
            sums.setdefault(group[resource], []).append(score)
        out.append({"day": d, "scores": {g: round(sum(v) / len(v), 1) for g, v in sorted(sums.items())}})
    return out


@quality.command("report")
@click.option(
    "--unit", help="One responsible unit (as the responsibility list names it); default every unit."
)
@click.option("--month", metavar="YYYY-MM", help="The month (default: this month, so far).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="The page (with --unit) or a folder for one page per unit.",
)
@city_option
@dir_option
@handle_errors
def report_command(
    unit: str | None, month: str | None, out: Path, city: str | None, directory: Path | None
) -> None:
    """A responsible unit's monthly data-quality report: one HTML page with its score per day, each
    resource's score and problems, and the formula — to read, print or mail (nothing external)."""
    catalog = load_catalog(catalog_folder(city, directory))
    now = datetime.now(UTC)
    first, last = month_span(month, now)
    units: dict[str, list[str]] = {}
    for r in catalog.responsibilities:
        units.setdefault(r.unit, []).append(r.resource)
    if unit is not None and unit not in units:
        raise ConfigError(
            f"unit {unit!r}",
            "is not in the responsibility list",
            expected=", ".join(sorted(units)) or "(the list is empty)",
            fix="name the unit exactly as responsibility.yaml does",
        )
    chosen = [unit] if unit is not None else sorted(units)
    asked = {
        "since": f"{(now.date() - first).days + 1}d",
        "until": last.isoformat(),
        "resources": ",".join(sorted({res for name in chosen for res in units[name]})),
    }
    settings = get_settings()
    figures = fetch_report(settings, "quality", {**asked, "daily": "no"})
    days = fetch_report(settings, "quality", {**asked, "daily": "yes"})
    objections = read_objections(settings)
    for name in chosen:
        page = unit_month(catalog, name, units[name], figures, days, first, last, now, objections)
        target = out if unit is not None else out / f"{_slug(name)}-{first:%Y-%m}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(page), encoding="utf-8")
        click.echo(f"{name}: {target} (score {page_score(page)})")


def month_span(month: str | None, now: datetime) -> tuple[date, date]:
    """The first and last day of `month` (YYYY-MM; default this month), up to today."""
    if month is None:
        first = now.date().replace(day=1)
    else:
        try:
            first = datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            raise ConfigError(
                "--month", "is not a month", expected="YYYY-MM, e.g. 2026-11", actual=month
            ) from None
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    last = min(following - timedelta(days=1), now.date())
    if last < first:
        raise ConfigError(
            "--month", "is in the future", expected="this month or an earlier one", actual=month
        )
    return first, last


def unit_month(
    catalog: Any,
    unit: str,
    resources: list[str],
    month: dict[str, Any],
    days: dict[str, Any],
    first: date,
    last: date,
    now: datetime,
    objections: Iterable[Objection] = (),
) -> UnitMonth:
    """The report of one unit: its resources' figures over the month (freshness judged at the
    month's end), and the unit's score on each day of it (the mean of its resources')."""
    mine = set(resources)
    end = min(now, datetime.combine(last, datetime.max.time(), UTC))
    scores = scorecard_of(catalog, month, end, only=mine, objections=objections)
    span = days_between(first, last)
    per_day = trend(
        catalog, days["series"], days["last_changes"], span, now, only=mine, objections=objections
    )
    daily: list[tuple[str, float | None]] = [
        (d, sum(per_day[d].values()) / len(per_day[d]) if per_day[d] else None) for d in span
    ]
    contact = next((r.contact for r in catalog.responsibilities if r.unit == unit), None)
    line = " · ".join(x for x in (contact.name, contact.phone, contact.email) if x) if contact else ""
    return UnitMonth(unit, line, f"{first:%Y-%m}", first.isoformat(), last.isoformat(), scores, daily)


def page_score(page: UnitMonth) -> str:
    return "-" if page.score is None else f"{page.score:.1f}"


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "unit"
