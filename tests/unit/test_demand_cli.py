"""`sharebus demand list | show` over a catalog folder: filters, states, JSON, readable refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sharebus.cli.demand import demand
from sharebus.core.errors import ExitCode

CHONGQING = str(Path(__file__).resolve().parents[2] / "catalog" / "chongqing")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(demand, [*args, "--dir", CHONGQING])
    return result.exit_code, result.output


def listed(*args: str) -> list[dict[str, Any]]:
    code, out = run("list", "--json", *args)
    assert code == 0, out
    rows: list[dict[str, Any]] = json.loads(out)["demands"]
    return rows


def test_every_demand_is_listed_with_its_state_now() -> None:
    rows = listed()
    states = {r["id"]: r["state"] for r in rows}
    assert states["CQ-2025-0002"] == "pending" and states["CQ-2025-0014"] == "revoked"
    assert states["CQ-2024-0021"] == "expired"  # approved, its validity over: a state of time
    code, out = run("list")
    assert code == 0 and "CQ-2025-0001" in out and "state" in out.splitlines()[0]


def test_filters_by_subscriber_state_and_expiry() -> None:
    assert {r["id"] for r in listed("--subscriber", "liangjiang")} == {"CQ-2025-0002", "CQ-2025-0012"}
    assert all(r["state"] == "approved" for r in listed("--state", "approved"))
    ending = listed("--expiring", "3650d")
    assert ending and all(r["state"] == "approved" and "valid_until" in r for r in ending)
    assert "CQ-2025-0001" not in {r["id"] for r in ending}  # open-ended: never expiring
    code, out = run("list", "--expiring", "soon")
    assert code == 2 and "--expiring" in out and "Traceback" not in out


def test_show_names_an_unknown_demand_and_the_fix() -> None:
    code, out = run("show", "CQ-2025-0010", "--json")
    assert code == 0 and json.loads(out)["demand"]["fields"][0] == "cert_no"
    code, out = run("show", "CQ-1999-0000")
    assert code == 2 and "is not in the demand list" in out and "sharebus demand list" in out


def test_a_refused_step_exits_19_and_leaves_the_folder_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from sharebus.core.settings import get_settings

    shutil.copytree(CHONGQING, tmp_path / "chongqing")
    before = (tmp_path / "chongqing" / "demands.yaml").read_text(encoding="utf-8")
    monkeypatch.setenv("SHAREBUS_CATALOG_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        for args in (
            ["approve", "CQ-2025-0013"],  # conditional: no consent recorded
            ["approve", "CQ-2025-0014", "--consent", "x"],  # revoked: not pending
            ["revoke", "CQ-2025-0010"],  # no reason
            ["reject", "CQ-1999-0000", "--reason", "r"],  # unknown
            ["request", "--subscriber", "500106", "--resource", "market.inspection", "--purpose", "p",
             "--field", "id", "--contact-name", "n", "--contact-phone", "1"],  # not shared
        ):  # fmt: skip
            result = CliRunner().invoke(demand, args)
            assert result.exit_code == ExitCode.REFUSED, (args, result.output)
            assert "Traceback" not in result.output
    finally:
        get_settings.cache_clear()
    assert (tmp_path / "chongqing" / "demands.yaml").read_text(encoding="utf-8") == before
