"""`sharebus connectors …`: register and watch the Debezium connectors in Kafka Connect."""

from __future__ import annotations

import sys

import click

from connectors.client import ConnectClient, ConnectorState
from connectors.samples import apply_sample_connectors
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.errors import ConnectorError
from sharebus.samples.departments import department_ids
from sharebus.settings import get_settings


@click.group("connectors")
def connectors() -> None:
    """Debezium connectors: register sample departments, list, inspect, remove."""


@connectors.command("apply")
@click.argument("departments", nargs=-1)
@json_option
@handle_errors
def apply(departments: tuple[str, ...], as_json: bool) -> None:
    """Register the sample departments' connectors (idempotent); default: all of them."""
    regs = apply_sample_connectors(get_settings(), list(departments or department_ids()), progress)
    rows = [(r.name, r.action, r.state.state, len(r.state.tasks)) for r in regs]
    if as_json:
        emit_json([{"name": r.name, "action": r.action, "state": r.state.state,
                    "changed": list(r.changed_keys)} for r in regs])  # fmt: skip
    else:
        click.echo(table(rows, ["connector", "action", "state", "tasks"]))


@connectors.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """Every connector with its state and its tasks' states."""
    client = ConnectClient(get_settings().connect_url)
    states = [s for s in (client.status(n) for n in client.names()) if s is not None]
    if as_json:
        emit_json([_state_dict(s) for s in states])
        return
    click.echo(table(
        [(s.name, s.state, ", ".join(f"{t.id}:{t.state}" for t in s.tasks) or "-",
          (s.error_summary() or "").splitlines()[0][:80] if s.failed else "") for s in states],
        ["connector", "state", "tasks", "error"],
    ))  # fmt: skip


@connectors.command("status")
@click.argument("name")
@json_option
@handle_errors
def status(name: str, as_json: bool) -> None:
    """One connector: state, tasks, and the last error summarised; exit 1 unless RUNNING."""
    state = ConnectClient(get_settings().connect_url).status(name)
    if state is None:
        raise ConnectorError(f"connector {name}", "is not registered",
                             fix="see `sharebus connectors list`")  # fmt: skip
    if as_json:
        emit_json(_state_dict(state))
    else:
        click.echo(table([(t.id, t.state) for t in state.tasks], [f"{name} ({state.state}) task", "state"]))
        if state.failed:
            click.echo(f"error: {state.error_summary()}")
    if not state.running:
        sys.exit(1)


@connectors.command("remove")
@click.argument("name")
@handle_errors
def remove(name: str) -> None:
    """Delete a connector from Kafka Connect."""
    if not ConnectClient(get_settings().connect_url).delete(name):
        raise ConnectorError(f"connector {name}", "is not registered",
                             fix="see `sharebus connectors list`")  # fmt: skip
    progress(f"removed {name}")


def _state_dict(state: ConnectorState) -> dict[str, object]:
    return {
        "name": state.name,
        "state": state.state,
        "running": state.running,
        "tasks": [{"id": t.id, "state": t.state} for t in state.tasks],
        "error": state.error_summary(),
    }
