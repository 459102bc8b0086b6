"""The ops web endpoints on a real aiohttp server, the CLI's client of them, and `sharebus ops
status` (table, --json, and sampling here when no worker answers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aiohttp import web
from click.testing import CliRunner
from confluent_kafka import KafkaError, KafkaException

from sharebus.cli import ops as ops_cli
from sharebus.core.errors import ExitCode
from sharebus.core.settings import Settings, get_settings
from sharebus.testing.ports import free_port
from sharebus.testing.web import served
from streams.ops.api import add_routes, fetch_status
from streams.ops.errors import OpsError
from tests.unit.test_ops_report import monitor, snapshots


def ops_app() -> web.Application:
    """The ops routes, and one that is not the ops API."""
    app = web.Application()
    add_routes(app, monitor(snapshots()))

    async def other(request: web.Request) -> web.Response:
        return web.Response(text="not the ops API", status=500)

    app.router.add_get("/api/ops/broken", other)
    return app


@pytest.fixture
def server() -> Iterator[int]:
    """The ops routes on a real aiohttp server in a thread; yields its port."""
    with served(ops_app()) as port:
        yield port


def test_status_metrics_and_dashboard_are_served(server: int) -> None:
    base = f"http://127.0.0.1:{server}"
    status = requests.get(f"{base}/api/ops/status", timeout=10)
    assert status.status_code == 200 and status.headers["Cache-Control"] == "no-store"
    assert status.json()["subscribers"][1]["status"] == "STOP"
    metrics = requests.get(f"{base}/metrics", timeout=10)
    assert metrics.headers["Content-Type"].startswith("text/plain; version=")
    sample = 'sharebus_subscriber_lag_records{kind="district",name="万州区",subscriber="500101"} 40.0'
    assert sample in metrics.text
    page = requests.get(f"{base}/dashboard", timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "/api/ops/status" in page.text and "<script" in page.text
    own = page.text.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace: a name, not a fetch
    assert "http://" not in own and "https://" not in own  # self-contained: no CDN


def test_fetch_status_from_the_worker_or_why_not(server: int) -> None:
    report, where = fetch_status(Settings(web_host="0.0.0.0", web_port=server, web_tls=False))
    assert report is not None and where == f"http://127.0.0.1:{server}/api/ops/status"
    nobody = free_port()
    report, why = fetch_status(Settings(web_port=nobody, web_tls=False))
    assert report is None and why == f"no worker answers at http://127.0.0.1:{nobody}/api/ops/status"


def test_fetch_status_from_another_service_names_it(monkeypatch: pytest.MonkeyPatch, server: int) -> None:
    monkeypatch.setattr("streams.ops.api.STATUS_PATH", "/api/ops/broken")
    with pytest.raises(OpsError) as caught:
        fetch_status(Settings(web_port=server, web_tls=False))
    assert caught.value.subject == f"web server at http://127.0.0.1:{server}/api/ops/broken"
    assert "HTTP 500" in (caught.value.actual or "")


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ops_cli, "calls_by", lambda settings: {"district": {"500102": 1234}})
    monkeypatch.setattr(ops_cli, "require_kafka", lambda settings: None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(ops_cli.ops, list(args), catch_exceptions=False)


def test_status_from_the_worker_as_a_table_and_json(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    report = monitor(snapshots()).report()
    monkeypatch.setattr(ops_cli, "fetch_status", lambda settings: (json.loads(json.dumps(report)), "url"))
    result = run("status")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bus: STOP   sampled 2027-01-15T08:00:15.000Z by the worker, every 5 s")
    districts = lines.index("districts")
    assert lines[districts + 3].split()[:5] == ["500101", "万州区", "STOP", "40", "35"]
    assert "no commit for 15s while lag is 40" in lines[districts + 3]
    assert lines[districts + 4].split()[:4] == ["500102", "涪陵区", "OK", "0"]
    assert "1,234" in lines[districts + 4]
    assert lines.index("zones and departments") > districts
    assert "dead letters" in lines and "connectors" in lines
    assert any(line.startswith("cdc-market") and "4.1 kB (sharebus_market)" in line for line in lines)
    as_json = json.loads(run("status", "--json").stdout)
    assert as_json["subscribers"][1]["lag_records"] == 40
    assert as_json["calls_24h"]["district"]["500102"] == 1234


def test_status_says_kafka_is_gone_even_when_the_workers_last_sample_was_fine(
    cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = monitor(snapshots()).report()
    monkeypatch.setattr(ops_cli, "fetch_status", lambda settings: (json.loads(json.dumps(report)), "url"))

    def gone(settings: Settings) -> None:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused"))

    monkeypatch.setattr(ops_cli, "require_kafka", gone)
    result = CliRunner(mix_stderr=False).invoke(ops_cli.ops, ["status"])
    assert result.exit_code == ExitCode.UNREACHABLE, result.stderr
    assert "Kafka at" in result.stderr and "fix:" in result.stderr and "Traceback" not in result.stderr


def test_status_samples_here_when_no_worker_answers(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops_cli, "fetch_status", lambda settings: (None, "no worker answers at http://x"))
    made: list[str] = []

    def local(settings: Settings, *, note: str) -> Any:
        made.append(note)
        mon = monitor([])
        mon.sampler.script = snapshots()[-2:]  # type: ignore[attr-defined]
        mon.source, mon.note, mon.min_samples = "cli", note, 2
        return mon

    monkeypatch.setattr(ops_cli, "local_monitor", local)
    monkeypatch.setattr(ops_cli.time, "sleep", lambda seconds: None)
    result = run("status", "--json")
    assert result.exit_code == 0, result.stderr
    assert "no worker answers at http://x: sampling Kafka here, twice 3 s apart" in result.stderr
    report = json.loads(result.stdout)
    assert report["sampler"]["source"] == "cli" and report["sampler"]["samples_in_window"] == 2
    assert report["sampler"]["note"] == made[0] == "sampled by the CLI: no worker answers at http://x"
    assert report["subscribers"][1]["status"] == "STOP"
