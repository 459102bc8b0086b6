"""`sharebus connectors …`: onboard department databases (add), register the samples (apply), and
operate Debezium connectors (list, status, pause, resume, restart, remove, resnapshot)."""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import click

from connectors.client import ConnectClient, ConnectorState
from connectors.dburl import DEFAULT_PASSWORD_ENV, parse_db_url, resolve_password
from connectors.draft_catalog import Contact
from connectors.errors import EXIT_CODES_HELP
from connectors.onboard import OnboardRequest, OnboardResult, onboard
from connectors.operate import StatusReport, connector_status, remove
from connectors.registered import connector_config, spec_of, target_of
from connectors.slots import DEFAULT_WARN_BYTES
from connectors.snapshot import resnapshot
from connectors.sources import open_source
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, remember_secret, table
from sharebus.core.errors import ConfigError, ExitCode
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.settings import get_settings
from sharebus.dev.samples.connectors import apply_sample_connectors
from sharebus.dev.samples.departments import department_ids


def _say(message: str) -> None:
    progress(message)


@click.group("connectors", epilog=EXIT_CODES_HELP)
def connectors() -> None:
    """Onboard department databases as Debezium connectors, and operate them."""


# --- add ---------------------------------------------------------------------------------------
def _pairs(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item}",
                "is not KEY=VALUE",
                expected="e.g. --set snapshot.fetch.size=2000",
                actual=item,
                fix="write the Debezium property as KEY=VALUE",
            )
        out.append((key.strip(), value))
    return tuple(out)


def _prompt(text: str) -> str:
    if not sys.stdin.isatty():
        raise ConfigError(
            "the database password",
            "cannot be prompted for (no terminal)",
            fix=f"export {DEFAULT_PASSWORD_ENV}=… or put it in the --db URL",
        )
    return str(click.prompt(text, hide_input=True))


@connectors.command("add", epilog=EXIT_CODES_HELP)
@click.argument("department")
@click.option(
    "--db",
    "db_url",
    required=True,
    metavar="URL",
    help="postgresql://user[:password]@host:port/db or mariadb://…; the user is the one Debezium"
    " connects as (PostgreSQL: its owner rights create the publication).",
)
@click.option(
    "--tables",
    required=True,
    help="Comma-separated tables: schema.table (default schema public; MariaDB: the URL's database).",
)
@click.option(
    "--password-env",
    default=DEFAULT_PASSWORD_ENV,
    show_default=True,
    help="Environment variable with the password when the URL has none (else a prompt).",
)
@click.option(
    "--snapshot-mode",
    default="initial",
    show_default=True,
    help="Debezium snapshot.mode (initial, no_data, when_needed, …).",
)
@click.option(
    "--exclude-column", multiple=True, metavar="T.C", help="schema.table.column never read (repeat)."
)
@click.option(
    "--mask-column", multiple=True, metavar="T.C", help="schema.table.column sent as asterisks (repeat)."
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="An extra Debezium property (repeat)."
)
@click.option("--name", "department_name", help="The department's full name for its catalog entry.")
@click.option("--contact", help="E-mail or phone of who answers for the drafted resources.")
@click.option("--contact-name", default="待指定 (to be named)", show_default=True)
@click.option("--no-catalog", is_flag=True, help="Skip the catalog: no secret columns, no drafts.")
@click.option("--dry-run", is_flag=True, help="Preflight, render and validate; change nothing.")
@click.option("--yes", is_flag=True, help="Apply a config change to an existing connector (diff shown).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for RUNNING.")
@click.option(
    "--snapshot-timeout",
    default=300.0,
    show_default=True,
    help="Seconds to follow the initial snapshot (0: do not wait).",
)
@json_option
@handle_errors
def add(
    department: str,
    db_url: str,
    tables: str,
    password_env: str,
    snapshot_mode: str,
    exclude_column: tuple[str, ...],
    mask_column: tuple[str, ...],
    overrides: tuple[str, ...],
    department_name: str | None,
    contact: str | None,
    contact_name: str,
    no_catalog: bool,
    dry_run: bool,
    yes: bool,
    timeout: float,
    snapshot_timeout: float,
    as_json: bool,
) -> None:
    """Onboard DEPARTMENT's database: preflight, render, validate, register, wait RUNNING, follow
    the snapshot and draft catalog entries. Either it all succeeds, or what it created is rolled
    back and each problem is explained with its fix. Twice with the same arguments: no change."""
    settings = get_settings()
    target = parse_db_url(db_url)
    if target.ca is None and settings.db_ca is not None:
        target = replace(target, ca=settings.db_ca)  # TLS verify-full against the bus's CA
    if target.password:
        remember_secret(target.password)
    target = resolve_password(target, env=os.environ, env_name=password_env, prompt=_prompt)
    remember_secret(target.password)
    req = OnboardRequest(
        department=department,
        target=target,
        tables=tuple(t.strip() for t in tables.split(",") if t.strip()),
        snapshot_mode=snapshot_mode,
        exclude_columns=exclude_column,
        mask_columns=mask_column,
        overrides=_pairs(overrides),
        department_name=department_name,
        contact=Contact(contact_name, contact) if contact else None,
        catalog=not no_catalog,
        dry_run=dry_run,
        confirm=yes,
        timeout=timeout,
        snapshot_timeout=snapshot_timeout,
    )
    result = onboard(settings, req, _say)
    if as_json:
        emit_json({"ok": True, "dry_run": dry_run, **result.to_dict()})
        return
    _print_result(result, dry_run)


def _print_result(r: OnboardResult, dry_run: bool) -> None:
    click.echo(table([(c.status, c.name, c.found) for c in r.checks], ["status", "check", "found"]))
    for c in r.checks:
        if c.status == "warn" and c.fix:
            click.echo(f"warning: {c.name}: {c.fix}")
    if r.diff:
        click.echo("config changes:\n" + "\n".join(c.render() for c in r.diff))
    if dry_run:
        click.echo("steps it would take:\n" + "\n".join(f"  {s}" for s in r.steps or ["(none)"]))
        click.echo("config:\n" + "\n".join(f"  {k} = {v}" for k, v in sorted(r.config.items())))
        click.echo(f"dry run: {r.connector} {r.action}; nothing was changed")
        return
    line = f"{r.connector}: {r.action}, {r.state.state if r.state else '?'}"
    if r.seconds_to_running is not None:
        line += f" ({r.seconds_to_running:.1f}s to RUNNING)"
    click.echo(line)
    if r.snapshot is not None:
        rows = ", ".join(f"{t} {n} rows" for t, n in r.snapshot.rows.items()) or "no rows"
        click.echo(f"initial snapshot: {r.snapshot.status} ({rows}) in {r.snapshot.seconds:.1f}s")
    if r.catalog is not None and r.catalog.drafted:
        click.echo(f"catalog drafts to complete in {r.catalog.path}: {', '.join(r.catalog.drafted)}")


# --- samples -----------------------------------------------------------------------------------
@connectors.command("apply")
@click.argument("departments", nargs=-1)
@json_option
@handle_errors
def apply(departments: tuple[str, ...], as_json: bool) -> None:
    """Register the sample departments' connectors (idempotent); default: the PostgreSQL samples
    (market, realestate). `hrss` registers the MariaDB sample (its database is created if missing)."""
    regs = apply_sample_connectors(get_settings(), list(departments or department_ids()), progress)
    rows = [(r.name, r.action, r.state.state, len(r.state.tasks)) for r in regs]
    if as_json:
        emit_json(
            [
                {"name": r.name, "action": r.action, "state": r.state.state, "changed": list(r.changed_keys)}
                for r in regs
            ]
        )
    else:
        click.echo(table(rows, ["connector", "action", "state", "tasks"]))


# --- operate -----------------------------------------------------------------------------------
@connectors.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """Every connector with its state and its tasks' states."""
    client = ConnectClient.of(get_settings())
    states = [s for s in (client.status(n) for n in client.names()) if s is not None]
    if as_json:
        emit_json([_state_dict(s) for s in states])
        return
    click.echo(
        table(
            [
                (
                    s.name,
                    s.state,
                    ", ".join(f"{t.id}:{t.state}" for t in s.tasks) or "-",
                    (s.error_summary() or "").splitlines()[0][:80] if s.failed else "",
                )
                for s in states
            ],
            ["connector", "state", "tasks", "error"],
        )
    )


@connectors.command("status", epilog=EXIT_CODES_HELP)
@click.argument("name")
@click.option(
    "--warn-bytes",
    default=DEFAULT_WARN_BYTES,
    show_default=True,
    type=click.IntRange(min=0),
    help="Warn (exit 10) when the slot retains more WAL than this.",
)
@json_option
@handle_errors
def status(name: str, warn_bytes: int, as_json: bool) -> None:
    """One connector: state, tasks, the last error in brief, and the WAL its replication slot
    retains (and its lag) against pg_current_wal_lsn(). Exit 1 unless RUNNING, 10 over the threshold."""
    report = connector_status(get_settings(), name, warn_bytes=warn_bytes)
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_status(report)
    if not report.state.running:
        sys.exit(ExitCode.FAILED)
    if report.over_threshold:
        sys.exit(ExitCode.LAG_WARNING)


def _bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{n} bytes" if unit == "B" else f"{n} bytes ({size:.1f} {unit})"


def _print_status(r: StatusReport) -> None:
    s = r.state
    click.echo(f"{s.name} ({r.kind or 'connector'}): {s.state}")
    for t in s.tasks:
        click.echo(f"  task {t.id}: {t.state}")
    if s.failed:
        click.echo(f"error: {s.error_summary()}")
    ret = r.retention
    if ret is not None:
        active = "" if ret.active is None else (" active," if ret.active else " inactive,")
        lag = "" if ret.lag_bytes is None else f", lag {_bytes(ret.lag_bytes)}"
        click.echo(f"{ret.kind} {ret.name}:{active} retains {_bytes(ret.retained_bytes)}{lag}; {ret.detail}")
        if r.over_threshold:
            click.echo(
                f"warning: more than {_bytes(r.warn_bytes)} retained — is the connector keeping up?"
                " (a stopped connector's slot keeps WAL until it resumes or the slot is dropped)"
            )
    elif r.retention_note:
        click.echo(f"retention unknown: {r.retention_note}")


def _wait_and_show(client: ConnectClient, name: str, state: str, as_json: bool) -> None:
    current = client.wait_running(name) if state == "RUNNING" else client.wait_state(name, state)
    if as_json:
        emit_json(_state_dict(current))
    else:
        click.echo(
            f"{name}: {current.state} ({', '.join(f'{t.id}:{t.state}' for t in current.tasks) or '-'})"
        )


@connectors.command("pause")
@click.argument("name")
@json_option
@handle_errors
def pause(name: str, as_json: bool) -> None:
    """Pause a connector and its tasks (its slot keeps WAL meanwhile)."""
    client = ConnectClient.of(get_settings())
    connector_config(client, name)
    client.pause(name)
    _wait_and_show(client, name, "PAUSED", as_json)


@connectors.command("resume")
@click.argument("name")
@json_option
@handle_errors
def resume(name: str, as_json: bool) -> None:
    """Resume a paused connector; waits until it and its tasks run."""
    client = ConnectClient.of(get_settings())
    connector_config(client, name)
    client.resume(name)
    _wait_and_show(client, name, "RUNNING", as_json)


@connectors.command("restart")
@click.argument("name")
@click.option(
    "--all", "everything", is_flag=True, help="Restart the connector and every task, not only failed ones."
)
@json_option
@handle_errors
def restart(name: str, everything: bool, as_json: bool) -> None:
    """Restart the failed tasks (and connector) of NAME; waits until all run."""
    client = ConnectClient.of(get_settings())
    connector_config(client, name)
    client.restart(name, failed_only=not everything)
    _wait_and_show(client, name, "RUNNING", as_json)


@connectors.command("remove")
@click.argument("name")
@click.option(
    "--drop-slot",
    is_flag=True,
    help="Also forget its offsets and drop its replication slot and publication (PostgreSQL) or"
    " schema history (MariaDB), and its password file: nothing of it stays.",
)
@json_option
@handle_errors
def remove_(name: str, drop_slot: bool, as_json: bool) -> None:
    """Delete a connector from Kafka Connect (its raw topics stay)."""
    done = remove(get_settings(), name, drop_slot=drop_slot, echo=_say)
    if as_json:
        emit_json({"ok": True, "removed": done})
    else:
        click.echo("removed: " + "; ".join(done))


@connectors.command("resnapshot", epilog=EXIT_CODES_HELP)
@click.argument("name")
@click.argument("table")
@click.option(
    "--where",
    "condition",
    metavar="SQL",
    help="Only rows matching this condition, e.g. \"district_code = '500101'\".",
)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for completion.")
@json_option
@handle_errors
def resnapshot_(name: str, table: str, condition: str | None, timeout: float, as_json: bool) -> None:
    """Re-emit TABLE's rows (those matching --where) as an incremental snapshot through Debezium's
    signal channel, followed to completion through its notifications."""
    settings = get_settings()
    config = connector_config(ConnectClient.of(settings), name)
    spec = spec_of(name, config)
    qualified = table if "." in table else f"{'public' if spec.kind == 'postgres' else spec.db_name}.{table}"
    if qualified not in spec.tables:
        raise ConfigError(
            f"table {qualified}",
            f"is not captured by {name}",
            expected=", ".join(spec.tables),
            actual=qualified,
            fix="name one of the connector's tables",
        )
    source = open_source(target_of(spec, config, secrets_dir=settings.secrets_dir))
    summary = resnapshot(source, spec, kafka_config(settings), qualified, condition, _say, timeout=timeout)
    if as_json:
        emit_json(
            {"ok": True, "connector": name, "table": qualified, "where": condition, **summary.to_dict()}
        )
    else:
        rows = ", ".join(f"{t}: {n} rows" for t, n in summary.rows.items()) or "no rows"
        click.echo(f"incremental snapshot {summary.status} in {summary.seconds:.1f}s ({rows})")


def _state_dict(state: ConnectorState) -> dict[str, object]:
    return {
        "name": state.name,
        "state": state.state,
        "running": state.running,
        "tasks": [{"id": t.id, "state": t.state} for t in state.tasks],
        "error": state.error_summary(),
    }
