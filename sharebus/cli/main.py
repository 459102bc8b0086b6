"""The `sharebus` entry point: registers each command group."""

from __future__ import annotations

import click

from sharebus import __version__
from sharebus.cli.acl import acl
from sharebus.cli.audit import audit
from sharebus.cli.catalog import catalog
from sharebus.cli.connectors import connectors
from sharebus.cli.demand import demand
from sharebus.cli.district import district
from sharebus.cli.metrics import metrics
from sharebus.cli.objections import answer_command, object_command, objections_command
from sharebus.cli.ops import ops
from sharebus.cli.pseudonyms import pseudonyms
from sharebus.cli.quality import quality
from sharebus.cli.reconcile import reconcile
from sharebus.cli.run import run
from sharebus.cli.samples import samples
from sharebus.cli.schemas import schemas
from sharebus.cli.stack import stack
from sharebus.cli.subscriber import subscriber
from sharebus.cli.topics import topics
from sharebus.cli.worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sharebus")
def cli() -> None:
    """sharebus: capture → route → deliver → measure government data changes."""


for group in (
    run,
    worker,
    stack,
    samples,
    connectors,
    catalog,
    demand,
    schemas,
    metrics,
    ops,
    district,
    reconcile,
    acl,
    subscriber,
    audit,
    topics,
    pseudonyms,
    quality,
):
    cli.add_command(group)
district.add_command(object_command)
quality.add_command(objections_command)
quality.add_command(answer_command)


def main() -> None:
    cli()
