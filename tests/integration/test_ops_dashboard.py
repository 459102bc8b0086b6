"""The ops dashboard in a real headless browser (Debian's chromium) against a real `sharebus worker`
on the stack: a district whose consumer stopped shows STOP with its lag, one keeping up shows OK,
and every figure the page shows — status and lag per subscriber, dead letters, connectors, calls per
district from ClickHouse — matches `sharebus ops status --json` of the same sample. The screenshot
is saved to test-artifacts/dashboard.png."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from connectors.render import CaptureSpec
from sharebus.core.https import WEB_SERVER, server_files
from sharebus.core.kafka_clients import http_login, kafka_config
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until
from tests.browser.chromium import chromium_page, ensure_chromium
from tests.browser.ops_scenario import (
    DistrictConsumer,
    Inserter,
    delete_groups,
    ops_status_json,
    subscriber,
    wait_for_end,
    worker_get,
)
from tests.integration.router_harness import RouterProcess, write_catalog

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STOPPED, KEEPING_UP, SLOW = "500101", "500103", "500105"

PAGE_STATE = """() => ({
  sampledAt: document.body.dataset.sampledAt,
  tiles: [...document.querySelectorAll('.tile')].map((t) => [t.dataset.subscriber, t.dataset.status,
          Number(t.dataset.lag), t.querySelector('.lag').textContent]),
  deadLetters: [...document.querySelectorAll('#dead-letters tr[data-department]')].map((r) =>
          [r.dataset.department, Number(r.dataset.depth)]),
  connectors: [...document.querySelectorAll('#connectors tr[data-connector]')].map((r) =>
          [r.dataset.connector, r.dataset.state]),
  calls: [...document.querySelectorAll('#calls-district tr[data-key]')].map((r) =>
          [r.dataset.key, Number(r.dataset.calls)]),
  figures: Object.fromEntries([...document.querySelectorAll('[data-figure]')].map((f) =>
          [f.dataset.figure, f.querySelector('.v').textContent])),
  throughputLines: document.querySelectorAll('#chart-throughput polyline').length,
})"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed here when missing; the test fails (never skips) without it."""
    try:
        return ensure_chromium(lambda line: print(f"[browser] {line}", flush=True))
    except Exception as exc:
        pytest.fail(f"no headless chromium for the dashboard test: {exc}")


def test_dashboard_shows_the_figures_of_ops_status(
    chromium: str,
    stack_settings: Settings,
    capture_factory: Callable[..., CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    market = capture_factory("market", own_database=True)
    router = router_factory(write_catalog(tmp_path / "catalog", {"market": market.department}))
    topic = {d: f"share.{d}.{market.department}" for d in (STOPPED, KEEPING_UP, SLOW)}
    group = {d: unique(f"{d}.duty") for d in topic}
    inserter = Inserter(stack_settings, market.db_name, {KEEPING_UP: 2, SLOW: 1})
    for district in topic:
        inserter.insert(district, 5)
    for name in topic.values():
        wait_for_end(stack_settings, name, 5)
    stopped = DistrictConsumer(stack_settings, group[STOPPED], topic[STOPPED])
    running = [
        DistrictConsumer(stack_settings, group[KEEPING_UP], topic[KEEPING_UP]),
        DistrictConsumer(stack_settings, group[SLOW], topic[SLOW], pace=3.0),
    ]
    try:
        for consumer in (stopped, *running):
            consumer.start()
        wait_until(lambda: stopped.consumed >= 5, 30, "the district consumer to read its records")
        assert stopped.stop() == 5
        inserter.insert(STOPPED, 7)  # what the stopped district will not read
        wait_for_end(stack_settings, topic[STOPPED], 12)
        garbage = Producer(kafka_config(stack_settings))
        garbage.produce(market.raw_topic, b"{not json", b'{"uscc":"X"}')
        assert garbage.flush(10) == 0
        # A fresh worker judges over a window that starts after the stop (no half-old window).
        router.stop()
        router.start()
        inserter.start()
        seen: list[dict[str, Any]] = [{}]

        def stopped_with_lag_7() -> dict[str, Any] | None:
            report = seen[0] = worker_get(router.env, "/api/ops/status").json()
            state = subscriber(report, STOPPED)
            done = (state["status"], state["lag_records"]) == ("STOP", 7) and report["router"]["series"]
            return report if done else None

        report = wait_until(
            stopped_with_lag_7,
            90,
            f"{STOPPED} STOP with lag 7",
            interval=1,
            last=lambda: seen[0].get("subscribers"),
        )
        assert subscriber(report, KEEPING_UP)["status"] == "OK"

        web_cert = server_files(stack_settings.tls_home, WEB_SERVER)[0]
        with chromium_page(tmp_path / "profile", login=http_login(stack_settings), trust=web_cert) as page:
            page.goto(f"https://127.0.0.1:{router.env['SHAREBUS_WEB_PORT']}/dashboard")
            page.wait_for_selector("body[data-loaded='1']", timeout=30_000)
            page.wait_for_selector("#calls-district[data-loaded='1']", timeout=30_000)
            shown, cli = matching_sample(page, router.env)
            page.wait_for_selector("#demands[data-loaded='1']", timeout=30_000)
            panel = page.evaluate(DEMANDS_STATE)
            page.wait_for_selector("#quality[data-loaded='1']", timeout=30_000)

            def same_quality_round() -> tuple[dict[str, Any], dict[str, Any]] | None:
                shown = page.evaluate(QUALITY_STATE)
                told = worker_get(router.env, "/api/ops/status").json()["quality"]
                return (shown, told) if told is not None and shown["at"] == told["at"] else None

            # The first round runs as the worker starts, then one a minute: within 90 s either way.
            quality_panel, quality = wait_until(
                same_quality_round, 90, "the panel showing the last quality round"
            )
            time.sleep(6)  # a couple of refreshes: the charts get their latest points
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        by_tile = {sid: (status, lag) for sid, status, lag, _ in shown["tiles"]}
        assert by_tile == {s["subscriber"]: (s["status"], s["lag_records"]) for s in cli["subscribers"]}
        assert by_tile[STOPPED] == ("STOP", 7) and by_tile[KEEPING_UP][0] == "OK"
        stopped_text = next(text for sid, _, _, text in shown["tiles"] if sid == STOPPED)
        assert stopped_text.startswith("7 rec · ")
        assert shown["deadLetters"] == [[d["department"], d["depth"]] for d in cli["dead_letters"]]
        assert [market.department, 1] in shown["deadLetters"]
        assert shown["connectors"] == [[c["name"], c["state"]] for c in cli["connectors"]["items"]]
        assert [market.connector_name, "RUNNING"] in shown["connectors"]
        # Calls (refreshed every 30 s by the page): the stopped district's are final, the others
        # only grow while changes flow.
        calls, called = dict(shown["calls"]), cli["calls_24h"]["district"]
        assert calls[STOPPED] == called[STOPPED] == 12
        assert 5 <= calls[KEEPING_UP] <= called[KEEPING_UP] and 5 <= calls[SLOW] <= called[SLOW]
        assert shown["figures"]["lag_records"] == f"{cli['summary']['lag_records']:,}"
        assert shown["figures"]["dead_letters"] == f"{cli['summary']['dead_letters']:,}"
        assert shown["throughputLines"] == 2
        # The demands panel: the policy's pending demands (the sample has two) and those ending soon.
        demands = cli["demands"]
        assert panel["figures"]["demands_pending"] == str(demands["pending"]) == "2"
        assert panel["figures"]["demands_expiring"] == str(demands["expiring_30d"])
        listed = [d["id"] for d in demands["pending_demands"] + demands["expiring_demands"]]
        assert panel["rows"] == listed and "CQ-2025-0013" in listed
        # The quality panel: the worker's last 30-day scorecard summary, as `ops status` has it.
        assert quality_panel["figures"]["quality_stale"] == f"{quality['stale']:,}"
        assert quality_panel["figures"]["quality_invalid"] == f"{quality['invalid']:,}"
        assert quality_panel["rows"] == [r["resource"] for r in quality["lowest_resources"]]
        assert quality["resources"] > 0 and len(quality_panel["rows"]) == min(5, quality["resources"])
    finally:
        inserter.stop()
        for consumer in running:
            consumer.stop()
        delete_groups(stack_settings, list(group.values()))


DEMANDS_STATE = """() => ({
  figures: Object.fromEntries([...document.querySelectorAll("#demands .figure")].map(
    (f) => [f.dataset.figure, f.querySelector(".v").textContent])),
  rows: [...document.querySelectorAll("#demands tr[data-demand]")].map((r) => r.dataset.demand),
})"""


QUALITY_STATE = """() => ({
  at: document.querySelector("#quality").dataset.at,
  figures: Object.fromEntries([...document.querySelectorAll("#quality .figure")].map(
    (f) => [f.dataset.figure, f.querySelector(".v").textContent])),
  rows: [...document.querySelectorAll("#quality tr[data-resource]")].map((r) => r.dataset.resource),
})"""


def matching_sample(
    page: Any, env: dict[str, str], timeout: float = 45.0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's figures and `ops status --json` of the same sample of the worker (the page
    refreshes every 3 s, the worker samples every 5 s)."""
    seen: list[object] = [None]

    def on_one_sample() -> tuple[dict[str, Any], dict[str, Any]] | None:
        cli = ops_status_json(env)
        shown: dict[str, Any] = page.evaluate(PAGE_STATE)
        seen[0] = (shown, cli["sampler"])
        return (shown, cli) if shown["sampledAt"] == cli["sampler"]["last_sample_at"] else None

    return wait_until(
        on_one_sample, timeout, "the page and the CLI on one sample", interval=1, last=lambda: seen[0]
    )
