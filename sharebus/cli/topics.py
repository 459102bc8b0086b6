"""`sharebus topics migrate`: move a deployment's subscriber topics to the current layout."""

from __future__ import annotations

import click

from sharebus.apps.acl.sync import sync
from sharebus.apps.district.live import live_catalog
from sharebus.apps.layout.capture import CaptureMigration, CaptureReport
from sharebus.apps.layout.migrate import Migration
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.settings import get_settings


@click.group("topics")
def topics() -> None:
    """The topics' layout: one raw topic per capture connector (`cdc.<department>`, every table
    of it), one subscriber topic per subscriber and department (`share.<subscriber>.<department>`,
    each resource under its own Avro record name)."""


@topics.command("migrate")
@click.option("--dry-run", is_flag=True, help="List the topics to move; change nothing.")
@json_option
@handle_errors
def migrate(dry_run: bool, as_json: bool) -> None:
    """Move a deployment to the current layout. Capture first: each connector writing a topic per
    table is paused, the router routes what is left in those topics (it must be running), the
    connector is switched to its department's raw topic and resumed, and the drained per-table
    topics are deleted. Then subscribers: copy every topic of the per-resource layout
    (`share.<subscriber>.<department>.<name>`) into `share.<subscriber>.<department>`, keys and
    subjects as the router writes them now (a key the router already wrote there is newer and
    kept), delete the old topics, then sync the ACLs
    (each subscriber's prefix replaces its per-topic grants). Idempotent: run it again after a
    failure. Districts' `district sync` re-reads the new topics from the beginning (upserts)."""
    settings = get_settings()
    migration = Migration(settings, progress)
    suffix = " (dry run)" if dry_run else ""
    try:
        progress(f"moving capture connectors to their raw topics on {settings.kafka_bootstrap}{suffix}…")
        capture = CaptureMigration(settings, lambda: live_catalog(settings), progress)
        plan = capture.plan(migration.topic_names())
        captured = CaptureReport(plan) if dry_run else capture.run(plan)
        if not plan:
            progress("no capture connector of the per-table layout: nothing to do")
        progress(f"moving subscriber topics on {settings.kafka_bootstrap}{suffix}…")
        report = migration.run(dry_run=dry_run)
    finally:
        migration.close()
    acl: dict[str, object] | None = None
    if report.deleted:
        progress("syncing the ACLs with the new layout…")
        changes = sync(settings, live_catalog(settings))
        acl = {"added": len(changes.add), "removed": len(changes.remove)}
    if as_json:
        capture_json = {"moves": [m.to_dict() for m in captured.moves], "deleted_topics": captured.deleted}
        emit_json({**report.to_dict(), "capture": capture_json, "acl": acl})
        return
    if captured.moves:
        rows = [[m.connector, m.raw_topic, str(len(m.routed)), str(len(m.unrouted))] for m in captured.moves]
        click.echo(table(rows, ["connector", "to", "table topics", "left unread"]))
        verb = "would switch" if dry_run else "switched"
        click.echo(f"{verb} {len(captured.moves)} connectors; deleted {len(captured.deleted)} table topics")
    rows = [
        [m.legacy, m.topic, f"{m.copied:,}", f"{m.skipped:,}", f"{m.deleted_rows:,}"] for m in report.moves
    ]
    if rows:
        click.echo(table(rows, ["from", "to", "copied", "newer kept", "deleted rows"]))
    verb = "would move" if dry_run else "moved"
    click.echo(f"{verb} {len(report.moves)} topics in {report.seconds:.1f}s; deleted {len(report.deleted)}")
    if acl is not None:
        click.echo(f"ACLs: {acl['added']} added, {acl['removed']} removed")
