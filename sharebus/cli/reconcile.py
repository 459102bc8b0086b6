"""`sharebus reconcile`: compare a district database with the policy projection of the sources."""

from __future__ import annotations

import json
import os
import sys

import click

from connectors.dburl import DEFAULT_PASSWORD_ENV, DbTarget, parse_db_url, resolve_password
from sharebus.apps.district.naming import default_schema
from sharebus.apps.district.reconcile import reconcile as run_reconcile
from sharebus.apps.district.source_rows import source_target
from sharebus.apps.district.target import parse_target
from sharebus.catalog.models import Resource
from sharebus.cli.district import prompt_password, schema_option, target_option
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.errors import ConfigError, ExitCode
from sharebus.core.settings import get_settings


def _sources(pairs: tuple[str, ...]) -> dict[str, DbTarget]:
    out = {}
    for pair in pairs:
        dept, sep, url = pair.partition("=")
        if not sep:
            raise ConfigError(
                f"--source {pair}",
                "is not DEPT=URL",
                expected="market=postgresql://u@h/db",
                fix="name the department, then its database URL",
            )
        out[dept] = resolve_password(
            parse_db_url(url), env=os.environ, env_name=DEFAULT_PASSWORD_ENV, prompt=prompt_password
        )
    return out


@click.command("reconcile")
@click.argument("subscriber")
@click.argument("resource", required=False)
@target_option
@schema_option
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="DEPT=URL",
    help="A department's database (password in the URL or $SHAREBUS_DB_PASSWORD; default: the one"
    " its connector captures, as the connector's user).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Differences listed per resource.",
)
@json_option
@handle_errors
def reconcile(
    subscriber: str,
    resource: str | None,
    target_url: str,
    schema: str | None,
    sources: tuple[str, ...],
    samples: int,
    as_json: bool,
) -> None:
    """Compare SUBSCRIBER's tables (or RESOURCE's) with what the policy in force projects from the
    source tables now: counts, then per-row hashes by key. Reports missing, extra and differing
    rows; exit code 1 when there is any difference, 0 when none."""
    settings = get_settings()
    target = parse_target(target_url, prompt_password)
    overrides = _sources(sources)

    def source_for(res: Resource) -> DbTarget:
        return overrides.get(res.department) or source_target(settings, res)

    report = run_reconcile(
        settings,
        subscriber,
        target,
        schema or default_schema(subscriber),
        progress,
        resources=(resource,) if resource else (),
        source_for=source_for,
        samples=samples,
    )
    if as_json:
        emit_json(report.to_dict())
    else:
        rows = [
            (r.resource, r.expected, r.district, r.missing, r.extra, r.differing, f"{r.seconds:.2f}")
            for r in report.resources
        ]
        click.echo(
            table(rows, ["resource", "expected", "district", "missing", "extra", "differing", "seconds"])
        )
        for r in report.resources:
            for s in r.samples:
                fields = f" fields {', '.join(s['fields'])}" if s.get("fields") else ""
                key = json.dumps(s["key"], ensure_ascii=False)
                click.echo(f"  {r.resource}: {s['kind']} {key}{fields}")
        verdict = "no differences" if report.differences == 0 else f"{report.differences} differences"
        click.echo(f"{subscriber} under policy {report.policy_version}: {verdict} ({report.seconds:.2f}s)")
    if report.differences:
        sys.exit(ExitCode.FAILED)


if __name__ == "__main__":  # `python -m sharebus.cli.reconcile …` before it is registered in main
    reconcile()
