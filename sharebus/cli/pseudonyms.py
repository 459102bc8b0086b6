"""`sharebus pseudonyms`: the pseudonym keys in play, and after a rotation the table that maps a
field's old pseudonyms to the new key's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from sharebus.apps.pseudonyms import key_ids, write_map
from sharebus.cli.output import emit_json, handle_errors, json_option, progress
from sharebus.core.settings import get_settings


@click.group("pseudonyms")
def pseudonyms() -> None:
    """Pseudonym keys: SHAREBUS_PSEUDONYM_KEY and, after a rotation, the keys it replaced."""


@pseudonyms.command("keys")
@json_option
@handle_errors
def keys(as_json: bool) -> None:
    """The id of the current key (on every delivered record with pseudonyms, header
    sharebus.pseudonym.key_id) and of the earlier ones (SHAREBUS_PSEUDONYM_PREVIOUS_KEYS)."""
    ids = key_ids(get_settings())
    if as_json:
        emit_json(ids.to_dict())
        return
    click.echo(f"current key {ids.current}; earlier keys: {', '.join(ids.previous) or 'none set'}")


@pseudonyms.command("map")
@click.argument("resource")
@click.argument("field")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CSV here (mode 600) instead of stdout.",
)
@json_option
@handle_errors
def map_command(resource: str, field: str, output: Path | None, as_json: bool) -> None:
    """After a rotation: map FIELD's pseudonyms under each earlier key to the current key's.

    Reads the field's values from the resource's source table (as the connector's user), writes a
    CSV old_key_id,old_pseudonym,new_key_id,new_pseudonym (no clear value), and audits it. Give it
    to the districts that receive the field; re-delivering the rows (`district backfill`) updates
    their copies."""
    settings = get_settings()
    if output is None:
        summary = write_map(settings, resource, field, sys.stdout, progress)
    else:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            summary = write_map(settings, resource, field, out, progress)
    if as_json and output is not None:
        emit_json({**summary.to_dict(), "output": str(output)})
        return
    progress(
        f"{summary.lines:,} mappings of {resource}.{field} ({summary.rows:,} source rows):"
        f" keys {', '.join(summary.keys.previous)} → {summary.keys.current}"
        + (f", in {output}" if output else "")
    )
