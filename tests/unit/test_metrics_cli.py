"""`sharebus metrics …` on an embedded store in a temporary directory (no worker answers, so the
CLI opens the store itself): tables, --json, district names, errors and exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sharebus.cli.metrics import _reasons_text, metrics, size
from sharebus.core.settings import Settings, get_settings
from streams.metrics.opening import open_store
from streams.metrics.rows import CallRow, PositionRow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens on it
    monkeypatch.setenv("SHAREBUS_METRICS_URL", f"chdb://{tmp_path / 'metrics'}")
    monkeypatch.setenv("SHAREBUS_WEB_HOST", "127.0.0.1")
    monkeypatch.setenv("SHAREBUS_WEB_PORT", str(port))
    monkeypatch.setenv("SHAREBUS_CATALOG_DIR", str(REPO / "catalog"))
    monkeypatch.setenv("SHAREBUS_CITY", "chongqing")
    get_settings.cache_clear()
    settings = get_settings()
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    res = ("market", "market.enterprise")
    with open_store(settings) as store:
        shared = "shared_unconditional"
        store.insert_calls(
            [
                CallRow(minute, *res, "500101", "c", "delivered", shared, 1200, 2_400_000, (30.0, 50.0)),
                CallRow(minute - timedelta(days=2), *res, "500101", "u", "delivered", shared, 10, 900),
                CallRow(minute, *res, "liangjiang", "c", "withheld", "demand_revoked", 3, 0),
                CallRow(minute, *res, "", "c", "dead_letter", "check_usci", 2, 50),
            ]
        )
        store.insert_positions(
            [PositionRow(now, "500101", "share.500101.market.enterprise", 0, 90, 100, "500101.sync")]
        )
    yield settings
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(metrics, list(args))
    return result.exit_code, result.output


def test_calls_table_and_json(env: Settings) -> None:
    code, out = run("calls", "--by", "subscriber", "--since", "24h")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[1].split() == [
        "subscriber",
        "delivered",
        "bytes",
        "withheld",
        "dead",
        "letters",
        "why",
        "not",
    ]
    assert lines[3].split()[:5] == ["500101", "1200", "2.4", "MB", "0"]
    assert "demand_revoked 3" in out and "(none)" in out and "check_usci 2" in out
    assert lines[-1].split()[:2] == ["total", "1200"]
    code, out = run("calls", "--json")
    report = json.loads(out)
    assert report["totals"] == {"delivered": 1200, "bytes": 2_400_000, "withheld": 3, "dead_letter": 2}


def test_calls_by_district_names_the_districts(env: Settings) -> None:
    code, out = run("calls", "--by", "district", "--json")
    assert code == 0, out
    (row,) = json.loads(out)["rows"]
    assert (row["district"], row["name"]) == ("500101", "万州区")
    code, out = run("calls", "--by", "district")
    assert "万州区" in out and "liangjiang" not in out


def test_summary_reasons_latency_lag(env: Settings) -> None:
    code, out = run("summary", "--daily")
    assert code == 0, out
    assert "daily average (2 complete days): 5.0 calls" in out and "cumulative since" in out
    assert "market.enterprise" in out
    code, out = run("reasons", "--json")
    assert json.loads(out)["totals"] == {"withheld": 3, "dead_letter": 2}
    code, out = run("latency", "--by", "subscriber")
    assert code == 0 and "500101" in out and "p95 ms" in out
    code, out = run("lag", "--json")
    (row,) = json.loads(out)["rows"]
    assert (row["subscriber"], row["group"], row["lag"]) == ("500101", "500101.sync", 10)


def test_bad_arguments_exit_with_the_error_code(env: Settings) -> None:
    code, out = run("calls", "--since", "soon")
    assert code == 2 and "--since: is not a duration" in out and "fix:" in out
    code, out = run("calls", "--by", "op")
    assert code == 2  # click's own choice check


def test_sizes_for_humans() -> None:
    assert [size(n) for n in (0, 999, 1000, 2_400_000, 13.8e12, 2e16)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "2.4 MB",
        "13.8 TB",
        "20000.0 TB",
    ]


def test_why_not_lists_most_records_first_and_ties_by_name() -> None:
    reasons = {
        "delivered": {"shared_unconditional": 9},
        "withheld": {"no_subscriber": 3, "demand_pending": 3, "demand_revoked": 5},
        "dead_letter": {"check_usci": 1},
    }
    assert _reasons_text(reasons) == "demand_revoked 5, demand_pending 3, no_subscriber 3, check_usci 1"
