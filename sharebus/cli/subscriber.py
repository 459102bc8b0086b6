"""`sharebus subscriber add|rotate|disable ID`: a district's SCRAM login and its client config."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import click

from sharebus.apps.acl import subscribers
from sharebus.apps.acl.subscribers import CredentialChange
from sharebus.apps.district.live import live_catalog
from sharebus.catalog.models import Catalog
from sharebus.cli.output import emit_json, handle_errors, json_option, progress
from sharebus.core.settings import Settings, get_settings

_output = click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the client config to this file (mode 600) instead of stdout.",
)


@click.group("subscriber")
def subscriber() -> None:
    """Credentials of subscribers (districts, departments): a SCRAM-SHA-512 login per subscriber,
    printed once with its client config. sharebus keeps no copy of the password."""


def _run(
    action: Callable[..., CredentialChange], subscriber_id: str, output: Path | None, as_json: bool
) -> None:
    settings: Settings = get_settings()
    catalog: Catalog = live_catalog(settings)
    change = action(settings, catalog, subscriber_id)
    grants = f"{len(change.acl.add)} grant(s) added, {len(change.acl.remove)} removed"
    if change.config is None:
        progress(f"{subscriber_id}: login deleted, {grants}")
        if as_json:
            emit_json({"subscriber": subscriber_id, "action": change.action, **change.acl.to_dict()})
        return
    config = change.config
    text = (
        json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n" if as_json else config.properties()
    )
    progress(f"{subscriber_id}: {change.action}; {grants}; {len(config.topics)} topic(s) readable")
    if output is not None:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        progress(f"client config written to {output} (mode 600); the password is not kept anywhere else")
    else:
        progress("the password below is shown once and not kept anywhere: store it now")
        click.echo(text, nl=False)


@subscriber.command("add")
@click.argument("subscriber_id")
@_output
@json_option
@handle_errors
def add(subscriber_id: str, output: Path | None, as_json: bool) -> None:
    """Create SUBSCRIBER_ID's login, grant what the catalog entitles it to, print its client config."""
    _run(subscribers.add, subscriber_id, output, as_json)


@subscriber.command("rotate")
@click.argument("subscriber_id")
@_output
@json_option
@handle_errors
def rotate(subscriber_id: str, output: Path | None, as_json: bool) -> None:
    """Issue a new password; the old one is refused from now on (open sessions within a minute)."""
    _run(subscribers.rotate, subscriber_id, output, as_json)


@subscriber.command("disable")
@click.argument("subscriber_id")
@json_option
@handle_errors
def disable(subscriber_id: str, as_json: bool) -> None:
    """Delete SUBSCRIBER_ID's login and every grant it holds (`add` enables it again)."""
    _run(subscribers.disable, subscriber_id, None, as_json)
