"""The systemd units in deploy/systemd start commands the CLI has, with options it accepts."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click
import pytest

from sharebus.cli.main import cli

UNITS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "systemd").glob("*.service"))


def _exec_start(unit: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    line = parser["Service"]["ExecStart"]
    words = shlex.split(
        line.replace("%i", "500103").replace("${SHAREBUS_DISTRICT_TARGET}", "postgresql://h/db")
    )
    assert words[0].endswith("/sharebus"), line
    return words[1:]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_a_unit_starts_a_real_command_and_restarts_on_failure(unit: Path) -> None:
    args = _exec_start(unit)
    ctx = cli.make_context("sharebus", list(args), resilient_parsing=False)
    group: click.Group = cli
    while isinstance(group, click.Group) and args:
        name, cmd, args = group.resolve_command(ctx, args)
        assert cmd is not None, f"{unit.name}: no command {name!r}"
        ctx = cmd.make_context(name or "", list(args), parent=ctx)  # parses the options: raises if wrong
        group = cmd  # type: ignore[assignment]
        args = ctx.protected_args + ctx.args if isinstance(cmd, click.Group) else []
    text = unit.read_text()
    assert "Restart=on-failure" in text and "EnvironmentFile=" in text


def test_there_are_units_for_the_worker_a_district_sync_and_the_admins_followers() -> None:
    assert {u.name for u in UNITS} == {
        "sharebus-worker.service",
        "sharebus-district-sync@.service",
        "sharebus-acl-follow.service",
        "sharebus-backfill-follow.service",
        "sharebus-demand-desk.service",
    }
