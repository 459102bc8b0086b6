"""`sharebus acl sync|show`: Kafka ACLs derived from the live catalog, diffed against the broker."""

from __future__ import annotations

import signal
from datetime import UTC, datetime

import click

from sharebus.apps.acl.broker import Broker
from sharebus.apps.acl.follow import AclFollower
from sharebus.apps.acl.grants import Grant, user
from sharebus.apps.acl.sync import AclPlan, plan_for, sync
from sharebus.apps.district.live import live_catalog
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.errors import ConfigError
from sharebus.core.settings import get_settings


@click.group("acl")
def acl() -> None:
    """Who may read what on Kafka: per subscriber READ/DESCRIBE on its own topics (the prefix
    `share.<subscriber>.`) and its consumer groups (`<subscriber>.`); the router reads raw
    topics and writes subscriber and dead-letter topics; Connect writes what Debezium needs.
    Everything else is denied (StandardAuthorizer, deny by default)."""


def _rows(grants: list[Grant], state: str) -> list[list[str]]:
    return [[state, g.principal, g.operation, g.resource, g.name, g.pattern] for g in grants]


def _render(changes: AclPlan, applied: bool) -> str:
    verb = "applied" if applied else "to apply"
    rows = _rows(list(changes.remove), "-") + _rows(list(changes.add), "+")
    head = f"{len(changes.add)} to add, {len(changes.remove)} to remove ({verb}); {changes.kept} in place"
    if changes.unmanaged:
        head += f"; {changes.unmanaged} of principals sharebus does not manage left alone"
    if not rows:
        return head
    return head + "\n" + table(rows, ["", "principal", "operation", "resource", "name", "pattern"])


@acl.command("sync")
@click.option("--dry-run", is_flag=True, help="Show the diff; change nothing.")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep the ACLs in step (each published version, each demand expiring) until stopped.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5),
    default=2.0,
    show_default=True,
    help="Seconds between looks at the catalog topic with --follow.",
)
@json_option
@handle_errors
def sync_cmd(dry_run: bool, follow: bool, interval: float, as_json: bool) -> None:
    """Make the broker's ACLs those the live catalog derives: adds what is missing, removes what
    no demand justifies any more (a removed subscriber, a revoked demand). Each change is audited.
    With --follow, keep doing it: a demand's access ends when its validity does."""
    settings = get_settings()
    if follow:
        if dry_run:
            raise ConfigError("--follow", "cannot be a dry run", fix="drop --dry-run, or --follow")
        follower = AclFollower(settings, progress)
        signal.signal(signal.SIGTERM, lambda _s, _f: follower.stop())
        progress(f"following catalog topic {settings.catalog_topic} ({settings.city}): ACLs kept in step")
        follower.follow(interval)
        return
    catalog = live_catalog(settings)
    progress(f"deriving ACLs from catalog {catalog.version} ({settings.city})…")
    changes = sync(settings, catalog, dry_run=dry_run)
    if as_json:
        emit_json({"catalog_version": catalog.version, "dry_run": dry_run, **changes.to_dict()})
    else:
        click.echo(_render(changes, applied=not dry_run and changes.changed))


@acl.command("show")
@click.argument("subscriber", required=False)
@json_option
@handle_errors
def show(subscriber: str | None, as_json: bool) -> None:
    """The broker's ACLs (of SUBSCRIBER only, when given), each marked in sync or stale, and the
    grants the catalog derives that are missing."""
    settings = get_settings()
    catalog = live_catalog(settings)
    current = Broker(settings).grants()
    changes = plan_for(settings, catalog, current, datetime.now(UTC))
    stale, missing = set(changes.remove), list(changes.add)
    shown = sorted(g for g in current if subscriber is None or g.principal == user(subscriber))
    if subscriber is not None:
        missing = [g for g in missing if g.principal == user(subscriber)]
    entries = [{**g.to_dict(), "state": "stale" if g in stale else "ok"} for g in shown]
    entries += [{**g.to_dict(), "state": "missing"} for g in missing]
    if as_json:
        emit_json({"catalog_version": catalog.version, "acls": entries})
        return
    if not entries:
        click.echo(f"no ACLs{f' for {subscriber}' if subscriber else ''}")
        return
    rows = [
        [e["state"], e["principal"], e["operation"], e["resource"], e["name"], e["pattern"]] for e in entries
    ]
    click.echo(table(rows, ["state", "principal", "operation", "resource", "name", "pattern"]))
