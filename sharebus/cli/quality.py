"""`sharebus quality scorecard`: each resource's data-quality indicators and score over the last
days, per resource, responsible unit or department, ranked for the data authority."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from sharebus.catalog.load import load_catalog
from sharebus.cli.catalog import catalog_folder, city_option, dir_option
from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.settings import get_settings
from streams.metrics.api import fetch_report
from streams.quality_score import BY, WEIGHTS, Figures, GroupScore, ResourceScore, grouped, ranked, scorecard


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
        days = daily_scores(catalog, report, by=by, now=now)
        if as_json:
            emit_json({"by": by, "since": report["since"], "until": report["until"], "days": days})
            return
        click.echo(f"quality score per day by {by}, {report['since']} → {report['until']}")
        names = sorted({name for day in days for name in day["scores"]})
        trend = [[name, *(day["scores"].get(name, "") for day in days)] for name in names]
        click.echo(table(trend, [by, *(day["day"][5:] for day in days)]))
        return
    scores = scorecard(catalog, _figures(report["rows"]), _changes(report["last_changes"]), now)
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


def _figures(rows: list[dict[str, Any]]) -> dict[str, Figures]:
    return {row["resource"]: Figures.of(row) for row in rows}


def _changes(texts: dict[str, str]) -> dict[str, datetime]:
    return {resource: datetime.fromisoformat(text.replace("Z", "+00:00")) for resource, text in texts.items()}


def daily_scores(catalog: Any, report: dict[str, Any], *, by: str, now: datetime) -> list[dict[str, Any]]:
    """Per day: the score of each row (`by`) from that day's figures alone, freshness judged at
    the day's end (or now, today)."""
    per_day: dict[str, list[dict[str, Any]]] = {}
    for row in report["rows"]:
        per_day.setdefault(row["day"], []).append(row)
    days: list[dict[str, Any]] = []
    changes: dict[str, str] = {}  # the newest change up to the day, carried over days without any
    first = date.fromisoformat(report["since"])
    for offset in range((now.date() - first).days + 1):
        day = (first + timedelta(days=offset)).isoformat()
        changes.update(report["last_changes"].get(day, {}))
        end = min(now, datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1, microseconds=-1))
        scores = scorecard(catalog, _figures(per_day.get(day, [])), _changes(changes), end)
        rows = scores if by == "resource" else grouped(scores, by)
        named = {r.resource if isinstance(r, ResourceScore) else r.name: round(r.score, 1) for r in rows}
        days.append({"day": day, "scores": named})
    return days
