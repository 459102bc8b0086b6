"""`sharebus schemas generate | show | register`: the Avro contract of the subscriber topics."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from schemas.derive import value_subject
from schemas.encoder import SchemaBook
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
@handle_errors
def show(topic: str) -> None:
    """Print the Avro value schema a subscriber topic carries now (derived, as registered)."""
    book = SchemaBook(RegistryClient(get_settings().registry_url), _policy())
    emit_json(book.schema_for(topic, book.entitlement(topic).demand_id))


@schemas.command("register")
@json_option
@handle_errors
def register(as_json: bool) -> None:
    """Register the value schema of every subscriber topic in force (idempotent)."""
    settings = get_settings()
    book = SchemaBook(RegistryClient(settings.registry_url), _policy())
    now = datetime.now(UTC)
    book.prepare(now)
    rows: list[dict[str, object]] = []
    lines: list[tuple[object, ...]] = []
    for ent in book.policy.entitlements(now):
        value = book.encoder_for(ent.topic, ent.demand_id)
        lines.append((ent.topic, value.subject, value.schema_id, ",".join(ent.masked) or "-"))
        rows.append(
            {
                "topic": ent.topic,
                "subject": value_subject(ent.topic),
                "schema_id": value.schema_id,
                "masked": list(ent.masked),
            }
        )
    if as_json:
        emit_json({"registry": settings.registry_url, "topics": rows})
        return
    progress(f"registry {settings.registry_url}: {len(rows)} topics")
    click.echo(
        table(
            lines,
            ["topic", "subject", "schema id", "masked"],
        )
    )
