"""`sharebus demand list | show`: a city's demand list (需求清单) with the state of each demand now."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from sharebus.catalog.demand_file import demand_entry
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Demand
from sharebus.catalog.workflow import DemandState, state_at
from sharebus.cli.catalog import catalog_folder, city_option, dir_option
from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.errors import ConfigError
from streams.metrics.window import parse_duration


@click.group("demand")
def demand() -> None:
    """The demand list: who asked for which resource, decided by whom, in force until when."""


def _row(d: Demand, now: datetime) -> dict[str, Any]:
    entry = demand_entry(d)
    for key in ("valid_from", "valid_until"):
        if key in entry:
            entry[key] = entry[key].isoformat()
    return {**entry, "state": state_at(d, now).value}


@demand.command("list")
@city_option
@dir_option
@click.option("--subscriber", help="Only the demands of this subscriber (a district code or subscriber id).")
@click.option(
    "--state", type=click.Choice([s.value for s in DemandState]), help="Only demands in this state now."
)
@click.option(
    "--expiring", metavar="DURATION", help="Only approved demands whose validity ends within it (e.g. 30d)."
)
@json_option
@handle_errors
def list_demands(
    city: str | None,
    directory: Path | None,
    subscriber: str | None,
    state: str | None,
    expiring: str | None,
    as_json: bool,
) -> None:
    """List the demands with their state now (pending, approved, expired, rejected, revoked)."""
    horizon = parse_duration(expiring, option="--expiring") if expiring is not None else None
    cat = load_catalog(catalog_folder(city, directory))
    now = datetime.now(UTC)
    chosen = []
    for d in cat.demands:
        current = state_at(d, now)
        if subscriber is not None and d.subscriber != subscriber:
            continue
        if state is not None and current.value != state:
            continue
        if horizon is not None and not (
            current is DemandState.APPROVED and d.valid_until is not None and d.valid_until <= now + horizon
        ):
            continue
        chosen.append(d)
    if as_json:
        emit_json({"version": cat.version, "at": now.isoformat(), "demands": [_row(d, now) for d in chosen]})
        return
    rows = [
        (
            d.id,
            d.subscriber,
            d.resource,
            state_at(d, now).value,
            d.valid_until.strftime("%Y-%m-%d %H:%MZ") if d.valid_until else "open",
            d.approver or "",
        )
        for d in chosen
    ]
    click.echo(table(rows, ("id", "subscriber", "resource", "state", "until", "decided by")))


@demand.command("show")
@click.argument("demand_id")
@city_option
@dir_option
@json_option
@handle_errors
def show_demand(demand_id: str, city: str | None, directory: Path | None, as_json: bool) -> None:
    """Show one demand: its purpose, fields, validity, decision and state now."""
    cat = load_catalog(catalog_folder(city, directory))
    now = datetime.now(UTC)
    found = next((d for d in cat.demands if d.id == demand_id), None)
    if found is None:
        raise ConfigError(
            f"demand {demand_id}",
            "is not in the demand list",
            expected="a demand id of demands.yaml",
            actual=demand_id,
            fix="`sharebus demand list` names them",
        )
    row = _row(found, now)
    if as_json:
        emit_json({"version": cat.version, "demand": row})
        return
    for key, value in row.items():
        click.echo(f"{key:12} {', '.join(value) if isinstance(value, list) else value}")
