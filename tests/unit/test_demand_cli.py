"""`sharebus demand list | show` over a catalog folder: filters, states, JSON, readable refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from sharebus.cli.demand import demand

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
