"""`sharebus run`: the main job — the whole bus with sample departments and districts."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sharebus.cli.output import handle_errors, progress
from sharebus.core.settings import get_settings
from sharebus.dev.run import RunOptions, run_bus


@click.command("run")
@click.option(
    "--external",
    is_flag=True,
    help="Components run elsewhere (docker-compose): wait for them instead of starting them.",
)
@click.option(
    "--rows",
    type=click.IntRange(min=0),
    default=2000,
    show_default=True,
    help="Sample rows per table, seeded when a department's tables are empty.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="Generated changes per second.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option(
    "--catalog-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Route with this catalog dir (its <city>/ folder) instead of SHAREBUS_CATALOG_DIR; it must"
    " hold the sample departments' resources for the sample districts to receive data (a seeds-scale"
    " one: `python -m bench.scale.catalog DIR --with-sample`).",
)
@handle_errors
def run(external: bool, rows: int, rate: float, duration: float | None, catalog_dir: Path | None) -> None:
    """Start the stack, create and seed the sample departments, capture them, stream changes."""
    if catalog_dir is not None:  # the worker and the district processes read it from the environment
        os.environ["SHAREBUS_CATALOG_DIR"] = str(catalog_dir.resolve())
        get_settings.cache_clear()
    run_bus(get_settings(), RunOptions(external, rows, rate, duration), progress)
