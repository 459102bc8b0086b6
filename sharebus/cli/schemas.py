"""`sharebus schemas generate | show | register`: the Avro contract of the subscriber topics."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from schemas.encoder import SchemaBook
from schemas.errors import SchemaBookError
from schemas.generate import REGENERATE, stale_files, write_files
from schemas.registry_client import RegistryClient
from sharebus.catalog.load import city_dir, load_catalog
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.errors import ExitCode
from sharebus.core.keys import pseudonym_key
from sharebus.core.settings import get_settings
from streams.policy.compiled import Policy, compile_policy


def _policy() -> Policy:
    settings = get_settings()
    catalog = load_catalog(city_dir(settings.catalog_dir, settings.city))
    return compile_policy(catalog, pseudonym_key=pseudonym_key(settings))


@click.group("schemas")
def schemas() -> None:
    """Avro schemas of the subscriber topics: derived from the catalog, held by the registry."""


@schemas.command("generate")
@click.option("--check", is_flag=True, help="Only report stale schemas/*.avsc files (exit 1 if any).")
@handle_errors
def generate(check: bool) -> None:
    """Rewrite the checked-in base schemas (schemas/<city>.<resource>.avsc) from every catalog."""
    catalog_dir = get_settings().catalog_dir
    if check:
        stale = stale_files(catalog_dir)
        for name in stale:
            click.echo(f"stale: schemas/{name}")
        if stale:
            progress(f"regenerate with: {REGENERATE}")
            sys.exit(ExitCode.FAILED)
        click.echo("schemas/*.avsc match the catalogs")
        return
    changed = write_files(catalog_dir)
    for name in changed:
        click.echo(f"wrote schemas/{name}")
    if not changed:
        click.echo("schemas/*.avsc already match the catalogs")


@schemas.command("show")
@click.argument("topic")
@click.argument("resource", required=False)
@handle_errors
def show(topic: str, resource: str | None) -> None:
    """Print the Avro value schema of RESOURCE on a subscriber TOPIC now (derived, as
    registered); without RESOURCE, `{resource: schema}` of every resource the topic carries."""
    book = SchemaBook(RegistryClient.for_settings(get_settings()), _policy())
    carried = [e for e in book.policy.entitlements(datetime.now(UTC)) if e.topic == topic]
    if resource is not None:
        carried = [e for e in carried if e.resource == resource]
    if not carried:
        raise SchemaBookError(
            f"topic {topic}" + (f" resource {resource}" if resource else ""),
            "carries nothing in force",
            expected="the topic of an entitlement in force"
            + (" that includes the resource" if resource else ""),
            fix="`sharebus schemas register` lists every topic and resource in force",
        )
    schemas_of = {e.resource: book.schema_for(e.subscriber, e.resource, e.demand_id) for e in carried}
    emit_json(schemas_of[resource] if resource is not None else schemas_of)


@schemas.command("register")
@json_option
@handle_errors
def register(as_json: bool) -> None:
    """Register the value schema of every subscriber projection in force (idempotent)."""
    settings = get_settings()
    book = SchemaBook(RegistryClient.for_settings(settings), _policy())
    now = datetime.now(UTC)
    book.prepare(now)
    rows: list[dict[str, object]] = []
    lines: list[tuple[object, ...]] = []
    for ent in book.policy.entitlements(now):
        value = book.encoder_for(ent.subscriber, ent.resource, ent.demand_id)
        lines.append((ent.topic, ent.resource, value.subject, value.schema_id, ",".join(ent.masked) or "-"))
        rows.append(
            {
                "topic": ent.topic,
                "resource": ent.resource,
                "subject": value.subject,
                "schema_id": value.schema_id,
                "masked": list(ent.masked),
            }
        )
    if as_json:
        emit_json({"registry": settings.registry_url, "projections": rows})
        return
    topics = len({row["topic"] for row in rows})
    progress(f"registry {settings.registry_url}: {len(rows)} projections on {topics} topics")
    click.echo(
        table(
            lines,
            ["topic", "resource", "subject", "schema id", "masked"],
        )
    )
