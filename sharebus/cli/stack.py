"""`sharebus stack up | down | status | logs | tls`: the local stack of real components."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core.errors import ConfigError, ExitCode
from sharebus.core.process import tail
from sharebus.core.settings import get_settings
from sharebus.dev.compose_env import write_env
from sharebus.dev.stack.manager import LocalStack
from sharebus.dev.stack.tls import COMPONENTS, Authority, server_names


@click.group("stack")
def stack() -> None:
    """Fetch, start, watch and stop Kafka, Kafka Connect + Debezium and PostgreSQL locally."""


@stack.command("up")
@json_option
@handle_errors
def up(as_json: bool) -> None:
    """Start the stack (idempotent): fetch jars once, start each component, wait until healthy."""
    settings = get_settings()
    if (warning := settings.cleartext_warning()) is not None:
        progress(f"warning: {warning}")
    local = LocalStack(settings)
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


@stack.command("tls")
@click.option("--renew", is_flag=True, help="Issue every component's certificate again.")
@click.option(
    "--renew-ca",
    is_flag=True,
    help="Make a new CA, and new certificates: every client then needs the new ca.pem.",
)
@click.option(
    "--owner",
    "owners",
    multiple=True,
    metavar="COMPONENT=UID",
    help="Give a component's key files to this user (Compose: the user its image runs as).",
)
@json_option
@handle_errors
def tls(renew: bool, renew_ca: bool, owners: tuple[str, ...], as_json: bool) -> None:
    """The bus's CA and each server's certificate in <runtime>/tls (`stack up` makes them too):
    made when missing, issued again near their end or for new names; components read them at
    their next start (`stack down` then `stack up` after a renewal)."""
    settings = get_settings()
    authority = Authority.of(settings)
    issued = authority.ensure(settings, progress, renew=renew, renew_ca=renew_ca, owners=_owners(owners))
    rows = [
        {
            "component": name,
            "names": server_names(settings, name),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "certificate": str(authority.files(name).cert),
        }
        for name, cert in issued.items()
    ]
    if as_json:
        emit_json({"ca": str(authority.ca_cert), "certificates": rows})
        return
    progress(f"CA {authority.ca_cert}: clients verify the bus's servers against it")
    click.echo(
        table(
            [[r["component"], r["not_after"][:10], ", ".join(r["names"])] for r in rows],
            ["component", "valid until", "names"],
        )
    )


def _owners(pairs: tuple[str, ...]) -> dict[str, int]:
    owners: dict[str, int] = {}
    for pair in pairs:
        name, _, uid = pair.partition("=")
        if name not in COMPONENTS or not uid.isdigit():
            raise ConfigError(
                f"--owner {pair}",
                "is not COMPONENT=UID",
                expected=f"one of {', '.join(COMPONENTS)}, '=', a numeric user id",
                actual=pair,
                fix="e.g. --owner kafka=1000",
            )
        owners[name] = int(uid)
    return owners


@stack.command("compose-env")
@click.option(
    "--compose",
    "compose",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("docker-compose.yml"),
    show_default=True,
    help="The Compose file whose secrets to generate.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where (default: .env beside the Compose file, which Compose reads).",
)
@json_option
@handle_errors
def compose_env(compose: Path, env_file: Path | None, as_json: bool) -> None:
    """Generate docker-compose.yml's passwords and keys once, before its first `up`.

    Every secret the file interpolates gets a random value in .env (mode 600) unless it has one;
    nothing is printed but their names. Without them the bus's containers refuse the built-in
    passwords (unless SHAREBUS_ALLOW_DEFAULT_PASSWORDS=true, a demo on a private network)."""
    result = write_env(compose, env_file or compose.parent / ".env")
    if as_json:
        emit_json(
            {"env_file": str(result.path), "generated": list(result.generated), "kept": list(result.kept)}
        )
        return
    click.echo(
        f"{result.path}: generated {', '.join(result.generated) or 'nothing'};"
        f" kept {len(result.kept)} already set. Keep the file private (mode 600)."
    )


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
