"""`sharebus stack up | down | status | logs`: the local stack of real components."""

from __future__ import annotations

import subprocess
import sys

import click

from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.errors import ExitCode
from sharebus.core.process import tail
from sharebus.core.settings import get_settings
from sharebus.dev.stack.manager import LocalStack


@click.group("stack")
def stack() -> None:
    """Fetch, start, watch and stop Kafka, Kafka Connect + Debezium and PostgreSQL locally."""


@stack.command("up")
@json_option
@handle_errors
def up(as_json: bool) -> None:
    """Start the stack (idempotent): fetch jars once, start each component, wait until healthy."""
    local = LocalStack(get_settings())
    report = local.up(progress)
    statuses = local.status()
    if as_json:
        emit_json(
            {
                "seconds": round(report.seconds, 1),
                "fetched": report.fetched,
                "actions": report.actions,
                "components": [s.to_dict() for s in statuses],
            }
        )
        return
    progress(f"stack up in {report.seconds:.1f}s")
    click.echo(_status_table(statuses))


@stack.command("down")
@handle_errors
def down() -> None:
    """Stop what `stack up` started (and nothing else)."""
    LocalStack(get_settings()).down(progress)


@stack.command("status")
@json_option
@handle_errors
def status(as_json: bool) -> None:
    """Each component's state, pid, port and endpoint; exit 1 unless all are healthy."""
    statuses = LocalStack(get_settings()).status()
    if as_json:
        emit_json(
            {"healthy": all(s.healthy for s in statuses), "components": [s.to_dict() for s in statuses]}
        )
    else:
        click.echo(_status_table(statuses))
    if not all(s.healthy for s in statuses):
        sys.exit(ExitCode.FAILED)


@stack.command("logs")
@click.argument("component")
@click.option("-n", "--lines", default=40, show_default=True, help="How many lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@handle_errors
def logs(component: str, lines: int, follow: bool) -> None:
    """Show a component's log (postgres, kafka, connect, maven)."""
    local = LocalStack(get_settings())
    path = local.layout.log_file(component if component == "maven" else local.component(component).name)
    if follow:
        subprocess.run(["tail", "-n", str(lines), "-F", str(path)], check=False)
    else:
        click.echo(tail(path, lines))


def _status_table(statuses: list) -> str:  # type: ignore[type-arg]
    return table(
        [(s.name, s.state, s.pid or "-", s.port, s.endpoint, s.detail) for s in statuses],
        ["component", "state", "pid", "port", "endpoint", "detail"],
    )
