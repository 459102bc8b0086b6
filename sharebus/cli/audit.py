"""`sharebus audit show`: the audit trail — withheld data, ACL and credential changes — newest last."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import click

from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.audit import ACTIONS, read_audit
from sharebus.core.settings import get_settings
from streams.metrics.window import parse_duration


@click.group("audit")
def audit() -> None:
    """The append-only audit topic (SHAREBUS_AUDIT_TOPIC): who withheld, granted, revoked,
    created, rotated or disabled what, when, under which catalog version."""


@audit.command("show")
@click.option("--since", default="24h", show_default=True, help="How far back: 30m, 24h, 7d.")
@click.option("--action", "actions", multiple=True, type=click.Choice(ACTIONS), help="Only these actions.")
@click.option("--subject", help="Only events about this subscriber / principal.")
@json_option
@handle_errors
def show(since: str, actions: tuple[str, ...], subject: str | None, as_json: bool) -> None:
    """Audit events since a time, with a count per action."""
    start = datetime.now(UTC) - parse_duration(since)
    events = [
        e
        for e in read_audit(get_settings(), since=start)
        if (not actions or e["action"] in actions) and (subject is None or e["subject"] == subject)
    ]
    counts = Counter(e["action"] for e in events)
    if as_json:
        emit_json({"since": start.isoformat(), "counts": dict(sorted(counts.items())), "events": events})
        return
    rows = [
        [
            e["at"][:19],
            e["action"],
            e["subject"],
            e["target"],
            e["count"],
            e["catalog_version"] or "",
            e["actor"],
        ]
        for e in events
    ]
    click.echo(table(rows, ["at (UTC)", "action", "subject", "target", "count", "catalog", "actor"]))
    click.echo(", ".join(f"{a}: {n}" for a, n in sorted(counts.items())) or "no events")
