"""The metrics query API: the routes a store's owner serves, and the CLI's client that asks the
owner first, opens the store itself when nobody answers, and names whoever answers wrongly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web

from sharebus.core.settings import Settings
from sharebus.testing.ports import free_port
from streams.metrics.api import PREFIX, add_routes, api_base, fetch_report
from streams.metrics.chdb_store import ChdbStore
from streams.metrics.errors import MetricsError, QueryArgumentError
from streams.metrics.queries import plan
from streams.metrics.rows import CallRow


class Served:
    """An aiohttp app served from a thread on a free port."""

    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChdbStore]:
    s = ChdbStore(tmp_path / "metrics")
    s.apply_ddl()
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    res = ("market", "market.enterprise")
    s.insert_calls(
        [
            CallRow(minute, *res, "500101", "c", "delivered", "shared_unconditional", 6, 600, (20.0,)),
            CallRow(minute, *res, "", "c", "dead_letter", "check_usci", 2, 10),
        ]
    )
    try:
        yield s
    finally:
        s.close()  # chDB: one data path per process


@pytest.fixture
def serve() -> Iterator[Callable[[web.Application], Served]]:
    running: list[Served] = []

    def start(app: web.Application) -> Served:
        running.append(Served(app))
        return running[-1]

    yield start
    for served in running:
        served.stop()


def _settings(tmp_path: Path, port: int) -> Settings:
    return Settings(
        metrics_url=f"chdb://{tmp_path / 'metrics'}", web_host="127.0.0.1", web_port=port, web_tls=False
    )


def test_the_owner_answers_every_query_over_http(
    store: ChdbStore, serve: Callable[[web.Application], Served], tmp_path: Path
) -> None:
    app = web.Application()
    add_routes(app, store)
    served = serve(app)
    index = requests.get(f"http://127.0.0.1:{served.port}{PREFIX}", timeout=5).json()
    assert index["queries"] == ["calls", "summary", "reasons", "latency", "lag", "audit", "quality"]
    settings = _settings(tmp_path, served.port)
    report = fetch_report(settings, "calls", {"by": "subscriber", "since": "1h"})
    direct = plan(
        "calls", {"by": "subscriber", "since": "1h"}, database="sharebus", now=datetime.now(UTC)
    ).run(store)
    assert (
        report["totals"]
        == direct["totals"]
        == {"delivered": 6, "bytes": 600, "withheld": 0, "dead_letter": 2}
    )
    for name in ("summary", "reasons", "latency", "lag", "audit"):
        assert fetch_report(settings, name, {})["query"] == name


def test_bad_arguments_come_back_as_the_same_errors(
    store: ChdbStore, serve: Callable[[web.Application], Served], tmp_path: Path
) -> None:
    app = web.Application()
    add_routes(app, store)
    served = serve(app)
    settings = _settings(tmp_path, served.port)
    with pytest.raises(QueryArgumentError) as err:
        fetch_report(settings, "calls", {"since": "yesterday"})
    assert err.value.subject == "--since" and err.value.exit_code == 2
    response = requests.get(f"http://127.0.0.1:{served.port}{PREFIX}/nope", timeout=5)
    assert response.status_code == 404 and response.json()["error"] == "QueryArgumentError"
    assert requests.get(f"http://127.0.0.1:{served.port}{PREFIX}/calls?by=op", timeout=5).status_code == 400


def test_something_else_on_the_web_port_is_named(
    serve: Callable[[web.Application], Served], tmp_path: Path
) -> None:
    served = serve(web.Application())  # a web server without the metrics routes
    with pytest.raises(MetricsError) as err:
        fetch_report(_settings(tmp_path, served.port), "calls", {})
    assert err.value.subject == f"web server at http://127.0.0.1:{served.port}{PREFIX}"
    assert "HTTP 404" in (err.value.actual or "") and "add_routes" in (err.value.fix or "")


def test_with_nobody_on_the_web_port_the_store_is_opened_here(store: ChdbStore, tmp_path: Path) -> None:
    store.close()  # no owner any more
    report = fetch_report(_settings(tmp_path, free_port()), "calls", {"by": "district", "since": "1h"})
    assert report["rows"] == [
        {
            "district": "500101",
            "delivered": 6,
            "bytes": 600,
            "withheld": 0,
            "dead_letter": 0,
            "reasons": {"delivered": {"shared_unconditional": 6}, "withheld": {}, "dead_letter": {}},
        },
    ]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "https://127.0.0.1:6066/api/metrics"),
        ("::", "https://[::1]:6066/api/metrics"),
        ("10.0.0.5", "https://10.0.0.5:6066/api/metrics"),
    ],
)
def test_a_wildcard_bind_address_is_asked_on_loopback(host: str, expected: str) -> None:
    assert api_base(Settings(web_host=host, web_port=6066)) == expected
    plain = Settings(web_host=host, web_port=6066, web_tls=False)
    assert api_base(plain) == expected.replace("https://", "http://")


def test_a_server_store_is_queried_directly_without_asking_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(
        "streams.metrics.api.run_local", lambda s, n, a, **kw: asked.append((n, a, kw)) or {"ok": 1}
    )
    monkeypatch.setattr("requests.Session.get", lambda *a, **k: pytest.fail("no HTTP for a server store"))
    assert fetch_report(Settings(metrics_url="clickhouse://ch:8123/sharebus"), "lag", {"since": ""}) == {
        "ok": 1
    }
    assert asked == [("lag", {}, {})]
