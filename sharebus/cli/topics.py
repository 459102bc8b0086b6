"""`sharebus topics migrate`: move a deployment's subscriber topics to the current layout."""

from __future__ import annotations

import click

from sharebus.apps.acl.sync import sync
from sharebus.apps.district.live import live_catalog
from sharebus.apps.layout.migrate import Migration
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.settings import get_settings


@click.group("topics")
def topics() -> None:
    """The subscriber topics' layout: one topic per subscriber and department,
    `share.<subscriber>.<department>`, each resource under its own Avro record name."""


@topics.command("migrate")
@click.option("--dry-run", is_flag=True, help="List the topics to move; change nothing.")
@json_option
@handle_errors
def migrate(dry_run: bool, as_json: bool) -> None:
    """Copy every topic of the per-resource layout (`share.<subscriber>.<department>.<name>`) into
    `share.<subscriber>.<department>`, keys and subjects as the router writes them now (a key the
    router already wrote there is newer and kept), delete the old topics, then sync the ACLs
    (each subscriber's prefix replaces its per-topic grants). Idempotent: run it again after a
    failure. Districts' `district sync` re-reads the new topics from the beginning (upserts)."""
    settings = get_settings()
    migration = Migration(settings, progress)
    try:
        progress(
            f"moving subscriber topics on {settings.kafka_bootstrap}"
            + (" (dry run)" if dry_run else "")
            + "…"
        )
        report = migration.run(dry_run=dry_run)
    finally:
        migration.close()
    acl: dict[str, object] | None = None
    if report.deleted:
        progress("syncing the ACLs with the new layout…")
        changes = sync(settings, live_catalog(settings))
        acl = {"added": len(changes.add), "removed": len(changes.remove)}
    if as_json:
        emit_json({**report.to_dict(), "acl": acl})
        return
    rows = [
        [m.legacy, m.topic, f"{m.copied:,}", f"{m.skipped:,}", f"{m.deleted_rows:,}"] for m in report.moves
    ]
    if rows:
        click.echo(table(rows, ["from", "to", "copied", "newer kept", "deleted rows"]))
    verb = "would move" if dry_run else "moved"
    click.echo(f"{verb} {len(report.moves)} topics in {report.seconds:.1f}s; deleted {len(report.deleted)}")
    if acl is not None:
        click.echo(f"ACLs: {acl['added']} added, {acl['removed']} removed")
