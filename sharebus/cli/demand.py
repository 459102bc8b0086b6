"""`sharebus demand list | show | request | approve | reject | revoke`: a city's demand list (需求清单)
with the state of each demand now, and the workflow's steps taken as the admin."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from sharebus.apps.demands import StepTaken, take_step
from sharebus.catalog import workflow
from sharebus.catalog.demand_file import demand_entry
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, Contact, Demand
from sharebus.catalog.workflow import Actor, DemandRequest, DemandState, Transition, state_at
from sharebus.cli.catalog import catalog_folder, city_option, dir_option
from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.errors import ConfigError
from sharebus.core.settings import get_settings
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


# --- the steps (as the admin: it alone publishes the catalog) --------------------------------------
def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ConfigError(
            option,
            "is not a time with its zone",
            expected="ISO 8601 with an offset, e.g. 2027-06-30T00:00:00+08:00",
            actual=repr(text),
        )
    return value.astimezone(UTC)


def _report(taken: StepTaken, as_json: bool) -> None:
    t = taken.transition
    if as_json:
        emit_json(
            {
                "demand": _row(taken.demand, t.at),
                "step": t.step.value,
                "from": t.before.value if t.before is not None else None,
                "to": t.after.value,
                "version": taken.version,
                "acl": {"added": len(taken.acl.add), "removed": len(taken.acl.remove)},
            }
        )
        return
    before = f"{t.before.value} → " if t.before is not None else ""
    d = taken.demand
    click.echo(
        f"demand {d.id} ({d.subscriber}, {d.resource}): {before}{t.after.value};"
        f" catalog version {taken.version} is live; ACLs: {len(taken.acl.add)} added,"
        f" {len(taken.acl.remove)} removed; audited demand.{t.step.value}"
    )


_reason = click.option("--reason", default="", help="Why (required to reject or revoke).")


@demand.command("request")
@click.option("--subscriber", required=True, help="Who the demand is for (a district code or subscriber id).")
@click.option("--resource", "resource_id", required=True, help="The resource asked for.")
@click.option("--purpose", required=True, help="What the data is for.")
@click.option(
    "--field", "fields", multiple=True, help="A field asked for (repeat); none: every non-secret field."
)
@click.option("--until", help="End of validity, ISO 8601 with its offset (none: open-ended).")
@click.option("--contact-name", required=True, help="Who to reach about the demand.")
@click.option("--contact-phone", help="Their phone.")
@click.option("--contact-email", help="Their e-mail.")
@click.option("--city", help="City of the catalog (default SHAREBUS_CITY).")
@json_option
@handle_errors
def request_demand(
    subscriber: str,
    resource_id: str,
    purpose: str,
    fields: tuple[str, ...],
    until: str | None,
    contact_name: str,
    contact_phone: str | None,
    contact_email: str | None,
    city: str | None,
    as_json: bool,
) -> None:
    """File a demand for a subscriber (pending until the data authority decides)."""
    if not (contact_phone or contact_email):
        raise ConfigError("--contact-phone / --contact-email", "a contact needs a phone or an e-mail")
    ask = DemandRequest(
        subscriber=subscriber,
        resource=resource_id,
        purpose=purpose,
        contact=Contact(name=contact_name, phone=contact_phone, email=contact_email),
        fields=fields or None,
        valid_until=_when(until, "--until"),
    )

    def step(c: Catalog, a: Actor, now: datetime) -> tuple[Demand, Transition]:
        return workflow.request(c, a, ask, now)

    _report(take_step(get_settings(), step, city), as_json)


@demand.command("approve")
@click.argument("demand_id")
@click.option("--field", "fields", multiple=True, help="Narrow to these fields (repeat).")
@click.option("--until", help="End the validity earlier (ISO 8601 with its offset).")
@click.option("--consent", help="Who consented for the owning department (conditional resources).")
@_reason
@click.option("--city", help="City of the catalog (default SHAREBUS_CITY).")
@json_option
@handle_errors
def approve_demand(
    demand_id: str,
    fields: tuple[str, ...],
    until: str | None,
    consent: str | None,
    reason: str,
    city: str | None,
    as_json: bool,
) -> None:
    """Approve a pending demand as the data authority; it takes effect at once."""
    end = _when(until, "--until")

    def step(c: Catalog, a: Actor, now: datetime) -> tuple[Demand, Transition]:
        return workflow.approve(
            c, a, demand_id, now, fields=fields or None, valid_until=end, consent=consent, reason=reason
        )

    _report(take_step(get_settings(), step, city), as_json)


def _decision(name: str, decide: Callable[..., tuple[Demand, Transition]], summary: str) -> click.Command:
    """`demand reject` and `demand revoke`: a demand id and a reason, as the data authority."""

    @demand.command(name, help=summary)
    @click.argument("demand_id")
    @_reason
    @click.option("--city", help="City of the catalog (default SHAREBUS_CITY).")
    @json_option
    @handle_errors
    def command(demand_id: str, reason: str, city: str | None, as_json: bool) -> None:
        def step(c: Catalog, a: Actor, now: datetime) -> tuple[Demand, Transition]:
            return decide(c, a, demand_id, now, reason=reason)

        _report(take_step(get_settings(), step, city), as_json)

    return command


reject_demand = _decision(
    "reject", workflow.reject, "Reject a pending demand as the data authority, saying why."
)
revoke_demand = _decision(
    "revoke",
    workflow.revoke,
    "Revoke an approved demand as the data authority, saying why; routing withholds at once and the"
    " subscriber's data of it is withdrawn.",
)
