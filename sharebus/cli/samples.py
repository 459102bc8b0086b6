"""`sharebus samples`: create and seed the sample department databases, and drive change load."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import click
import psycopg

from sharebus.cli.output import handle_errors
from sharebus.core.errors import UnreachableError
from sharebus.core.settings import Settings, get_settings
from sharebus.dev.samples.database import STACK_FIX, apply_schema, where
from sharebus.dev.samples.departments import DEPARTMENTS, SampleDepartment, get_department
from sharebus.dev.samples.generator import OPS, ChangeCounts, ChangeGenerator, seed

_DEPT_HELP = "DEPT is one of: " + ", ".join(d.id for d in DEPARTMENTS) + " (default: all)."


@click.group("samples")
def samples() -> None:
    """Sample department databases (market supervision, real-estate registration) and a paced
    change generator that drives CDC load through them."""


@contextmanager
def _reported(settings: Settings, databases: Sequence[str]) -> Iterator[None]:
    """A failed or lost PostgreSQL connection becomes an UnreachableError naming `databases`."""
    try:
        yield
    except psycopg.OperationalError as exc:
        subject = " / ".join(where(settings, db) for db in databases) or where(settings, "postgres")
        raise UnreachableError(
            subject,
            "the connection failed or was lost",
            expected="a running PostgreSQL of the stack",
            actual=str(exc).strip() or type(exc).__name__,
            fix=STACK_FIX,
        ) from None


def _departments(settings: Settings, ids: Sequence[str]) -> list[SampleDepartment]:
    with _reported(settings, ()):
        return [get_department(i) for i in dict.fromkeys(ids)] or list(DEPARTMENTS)


@samples.command("init", epilog=_DEPT_HELP)
@click.argument("depts", nargs=-1, metavar="[DEPT]...")
@handle_errors
def init_cmd(depts: tuple[str, ...]) -> None:
    """Create the department databases, apply their DDL and grant the CDC role (idempotent)."""
    settings = get_settings()
    for dept in _departments(settings, depts):
        with _reported(settings, (dept.database,)):
            apply_schema(settings, dept)
        click.echo(
            f"{dept.id}: {where(settings, dept.database)} ready"
            f" ({', '.join(dept.tables)}; CDC role {settings.pg_cdc_user} granted)"
        )


@samples.command("seed", epilog=_DEPT_HELP)
@click.argument("depts", nargs=-1, metavar="[DEPT]...")
@click.option(
    "--rows",
    "rows",
    type=click.IntRange(min=0),
    required=True,
    help="Rows to generate for each table of each department.",
)
@click.option(
    "--seed",
    "seed_",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed; the same seed generates the same rows (re-runs insert nothing).",
)
@handle_errors
def seed_cmd(depts: tuple[str, ...], rows: int, seed_: int) -> None:
    """Bulk-insert realistic rows into the department tables; progress on stderr."""
    settings = get_settings()
    for dept in _departments(settings, depts):
        started = time.monotonic()
        with _reported(settings, (dept.database,)):
            inserted = seed(settings, dept.id, rows, seed=seed_, progress=_SeedProgress(dept.id))
        took = time.monotonic() - started
        click.echo(
            f"{dept.id}: {inserted} rows inserted into {', '.join(dept.tables)}"
            f" in {took:.1f} s ({inserted / took if took else 0:,.0f} rows/s)"
        )


class _SeedProgress:
    """Writes `<dept>: done/total rows generated` to stderr at most once a second, and at the end
    (in place on a terminal)."""

    def __init__(self, dept_id: str) -> None:
        self.dept_id, self.last, self.tty = dept_id, 0.0, sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 1.0:
            return
        self.last = now
        end = "\r" if self.tty and done < total else "\n"
        click.echo(f"{self.dept_id}: {done}/{total} rows generated{end}", err=True, nl=False)


@samples.command(
    "generate",
    epilog=_DEPT_HELP + " Without --duration or --changes, runs until"
    " interrupted (Ctrl-C stops cleanly and prints the counts).",
)
@click.argument("depts", nargs=-1, metavar="[DEPT]...")
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), required=True, help="Committed changes per second."
)
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Seconds to run.")
@click.option("--changes", type=click.IntRange(min=0), default=None, help="Changes to commit.")
@click.option("--seed", "seed_", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the final counts as JSON.")
@handle_errors
def generate_cmd(
    depts: tuple[str, ...],
    rate: float,
    duration: float | None,
    changes: int | None,
    seed_: int,
    as_json: bool,
) -> None:
    """Commit inserts, updates, deletes and district moves at --rate changes per second."""
    if duration is not None and changes is not None:
        raise click.UsageError("pass at most one of --duration and --changes")
    settings = get_settings()
    chosen = _departments(settings, depts)
    with _reported(settings, [d.database for d in chosen]):
        gen = ChangeGenerator(settings, [d.id for d in chosen], rate=rate, seed=seed_)

        def progress(counts: ChangeCounts, elapsed: float) -> None:
            kinds = " ".join(f"{op}={counts.count(op)}" for op in OPS)
            click.echo(
                f"{elapsed:7.1f} s  {counts.total:>9} changes  {counts.total / elapsed:8.1f}/s  ({kinds})",
                err=True,
            )

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            gen.stop()

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            counts = gen.run(duration=duration, max_changes=changes, progress=progress)
        finally:
            signal.signal(signal.SIGINT, previous)
    if as_json:
        click.echo(json.dumps(counts.to_dict() | {"target_rate_per_s": rate}, ensure_ascii=False))
    else:
        click.echo(_table(counts, rate))


def _table(counts: ChangeCounts, rate: float) -> str:
    names = [*counts.tables(), "total"]
    width = max(len(n) for n in names)
    header = f"{'table':<{width}}" + "".join(f"{op + 's':>10}" for op in OPS) + f"{'total':>10}"
    lines = [header]
    for name in names:
        table = None if name == "total" else name
        cells = "".join(f"{counts.count(op, table):>10}" for op in OPS)
        lines.append(f"{name:<{width}}{cells}{counts.count(None, table):>10}")
    lines.append(f"{counts.elapsed:.1f} s, {counts.rate:.1f} changes/s (target {rate:g}/s)")
    return "\n".join(lines)
