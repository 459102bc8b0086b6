"""`sharebus demand list | show | request | approve | reject | revoke`: a city's demand list (需求清单)
with the state of each demand now, and the workflow's steps taken as the admin."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import click

from sharebus.apps.demand_api import fetch_demands
from sharebus.apps.demand_desk import DemandDesk
from sharebus.apps.demands import StepTaken, take_step
from sharebus.catalog.demand_view import demand_row, select
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Contact
from sharebus.catalog.orders import TIME_EXPECTED, StepOrder, parse_utc
from sharebus.catalog.workflow import DemandRequest, DemandState, Step
from sharebus.cli.catalog import catalog_folder, city_option, dir_option
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.errors import ConfigError
from sharebus.core.settings import get_settings
from streams.metrics.window import parse_duration


@click.group("demand")
def demand() -> None:
    """The demand list: who asked for which resource, decided by whom, in force until when."""


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
@click.option(
    "--mine",
    is_flag=True,
    help="As SHAREBUS_KAFKA_USER, from the worker's web API: a subscriber's own demands (a"
    " department's, those for its resources), in the policy in force.",
)
@json_option
@handle_errors
def list_demands(
    city: str | None,
    directory: Path | None,
    subscriber: str | None,
    state: str | None,
    expiring: str | None,
    mine: bool,
    as_json: bool,
) -> None:
    """List the demands with their state now (pending, approved, expired, rejected, revoked)."""
    horizon = parse_duration(expiring, option="--expiring") if expiring is not None else None
    if mine:
        asked = {"subscriber": subscriber, "state": state, "expiring": expiring}
        body = fetch_demands(get_settings(), {k: v for k, v in asked.items() if v is not None})
        rows = list(body["demands"])
    else:
        cat = load_catalog(catalog_folder(city, directory))
        now = datetime.now(UTC)
        wanted = DemandState(state) if state is not None else None
        chosen = select(cat.demands, now, subscriber=subscriber, state=wanted, expiring=horizon)
        rows = [demand_row(d, now) for d in chosen]
        body = {"version": cat.version, "at": now.isoformat(), "demands": rows}
    if as_json:
        emit_json(body)
        return
    lines = [
        (
            r["id"],
            r["subscriber"],
            r["resource"],
            r["state"],
            _until(r.get("valid_until")),
            r.get("approver", ""),
        )
        for r in rows
    ]
    click.echo(table(lines, ("id", "subscriber", "resource", "state", "until", "decided by")))


def _until(text: str | None) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if text else "open"


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
    row = demand_row(found, now)
    if as_json:
        emit_json({"version": cat.version, "demand": row})
        return
    for key, value in row.items():
        click.echo(f"{key:12} {', '.join(value) if isinstance(value, list) else value}")


# --- the steps (as the admin: it alone publishes the catalog) --------------------------------------
def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    value = parse_utc(text)
    if value is None:
        raise ConfigError(option, "is not a time with its zone", expected=TIME_EXPECTED, actual=repr(text))
    return value


def _report(taken: StepTaken, as_json: bool) -> None:
    t = taken.transition
    if as_json:
        emit_json(taken.to_dict())
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
@city_option
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
    _report(take_step(get_settings(), StepOrder(Step.REQUEST, ask=ask).take, city), as_json)


@demand.command("approve")
@click.argument("demand_id")
@click.option("--field", "fields", multiple=True, help="Narrow to these fields (repeat).")
@click.option("--until", help="End the validity earlier (ISO 8601 with its offset).")
@click.option("--consent", help="Who consented for the owning department (conditional resources).")
@_reason
@city_option
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
    order = StepOrder(
        Step.APPROVE,
        demand=demand_id,
        fields=fields or None,
        valid_until=_when(until, "--until"),
        consent=consent,
        reason=reason,
    )
    _report(take_step(get_settings(), order.take, city), as_json)


def _decision(name: str, step: Step, summary: str) -> click.Command:
    """`demand reject` and `demand revoke`: a demand id and a reason, as the data authority."""

    @demand.command(name, help=summary)
    @click.argument("demand_id")
    @_reason
    @city_option
    @json_option
    @handle_errors
    def command(demand_id: str, reason: str, city: str | None, as_json: bool) -> None:
        order = StepOrder(step, demand=demand_id, reason=reason)
        _report(take_step(get_settings(), order.take, city), as_json)

    return command


reject_demand = _decision("reject", Step.REJECT, "Reject a pending demand as the data authority, saying why.")
revoke_demand = _decision(
    "revoke",
    Step.REVOKE,
    "Revoke an approved demand as the data authority, saying why; routing withholds at once and the"
    " subscriber's data of it is withdrawn.",
)


@demand.command("serve")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=1.0,
    show_default=True,
    help="Seconds between looks when Kafka is away.",
)
@handle_errors
def serve(interval: float) -> None:
    """Run the demand desk as the admin: take the steps the worker's web API accepted
    (`/api/demands`) on the city's catalog folder, publish, sync the ACLs, audit, and answer each
    (until stopped)."""
    settings = get_settings()
    desk = DemandDesk(settings, progress)
    signal.signal(signal.SIGTERM, lambda _s, _f: desk.stop())
    progress(
        f"demand desk: taking the web API's steps from {desk.requests} on"
        f" {catalog_folder(None, None)} ({settings.city})"
    )
    try:
        desk.follow(interval)
    finally:
        desk.close()
