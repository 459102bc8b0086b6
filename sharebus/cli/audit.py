"""`sharebus audit show`: the audit trail — withheld data, ACL and credential changes — newest last."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import click

from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.audit import ACTIONS, AuditTamperedError, read_audit, verify_audit
from sharebus.core.audit_chain import Link
from sharebus.core.errors import ConfigError, ExitCode, exit_codes_help
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
    records = read_audit(get_settings(), since=start)
    # A record someone else wrote to the topic is not shown as an event (`audit verify` names it).
    fields = ("action", "subject", "target", "count", "catalog_version", "actor", "at")
    valid = [e for e in records if isinstance(e, dict) and all(k in e for k in fields)]
    events = [
        e
        for e in valid
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


@audit.command(
    "verify",
    epilog=exit_codes_help(ExitCode.OK, ExitCode.CONFIG, ExitCode.UNREACHABLE, ExitCode.TAMPERED),
)
@click.option(
    "--anchor",
    help="SEQ:HASH of a head printed by an earlier verify: the chain must still hold it unchanged"
    " (catches a rewrite of the whole topic with recomputed hashes).",
)
@json_option
@handle_errors
def verify(anchor: str | None, as_json: bool) -> None:
    """Check the audit chain from its first record: every record's hash, its link to the one
    before, no gap; names the first broken link. Prints the head to keep as the next --anchor."""
    try:
        noted = Link.parse(anchor) if anchor is not None else None
    except ValueError as exc:
        raise ConfigError(
            "--anchor", str(exc), fix="pass the `head` an earlier `sharebus audit verify` printed"
        ) from None
    settings = get_settings()

    def progress(offset: int, end: int) -> None:
        if not as_json and offset:
            click.echo(f"  … offset {offset:,} of {end:,}", err=True)

    report = verify_audit(settings, anchor=noted, progress=progress)
    head = report.head.render() if report.records else None
    if report.broken is not None:
        b = report.broken
        where = f"offset {b.offset}" if b.offset >= 0 else "the end"
        raise AuditTamperedError(
            f"audit topic {settings.audit_topic}, {where}" + (f" (seq {b.seq})" if b.seq is not None else ""),
            f"the chain is broken: {b.problem}",
            actual=f"{report.records:,} records chained intact before it (last good link {head or 'none'})",
            fix="the audit trail was altered outside the bus: keep this output as evidence, compare with a"
            " backup or mirror of the topic, and rotate the admin's credentials",
        )
    if as_json:
        emit_json(
            {
                "ok": True,
                "topic": settings.audit_topic,
                "records": report.records,
                "unchained": report.unchained,
                "head": head,
            }
        )
        return
    click.echo(f"audit chain of {settings.audit_topic}: intact, {report.records:,} records")
    if report.unchained:
        click.echo(
            f"  {report.unchained:,} earlier records were written before the chain began (not checked)"
        )
    if head is not None:
        click.echo(f"  head {head}")
        click.echo(
            "  keep it: `sharebus audit verify --anchor <head>` later proves nothing up to it was rewritten"
        )
