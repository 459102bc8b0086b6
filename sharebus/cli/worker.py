"""`sharebus worker`: the router (Faust) with its metrics sink and web endpoints."""

from __future__ import annotations

import click

from sharebus.apps.worker import start_worker
from sharebus.cli.output import handle_errors
from sharebus.core.settings import get_settings


@click.command("worker")
@click.option(
    "-l",
    "--loglevel",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log level.",
)
@handle_errors
def worker(loglevel: str) -> None:
    """Route the departments' changes to the entitled subscribers until stopped (SIGTERM/Ctrl-C).

    Exits non-zero when it cannot do its job (Kafka refuses a record, the catalog is invalid)."""
    start_worker(get_settings(), log_level=loglevel)
