"""The quality scorecard through the real stack: a controlled stream of enterprises — valid, one
failing its check character, one missing optional fields, one update — is captured, routed and
counted; `sharebus quality scorecard --json` then gives every indicator and the score exactly,
a resource nobody changed is stale, and the unit, department, ranking and daily views agree. The
department reads the failure on its feedback topic (and no other department's); the unit's
monthly report opens in Chromium with the same score."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.render import CaptureSpec
from sharebus.cli.quality import quality as quality_cli
from sharebus.cli.subscriber import subscriber as subscriber_cli
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.waiting import wait_until
from tests.browser.chromium import chromium_page
from tests.integration.router_harness import RouterProcess, cli_json, write_catalog
from tests.integration.test_district_sync import run_cli
from tests.integration.test_metrics_e2e import insert
from tests.integration.test_security import district_config, read_as, refused

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

REQUIRED = ("uscc", "name", "legal_rep_name", "legal_rep_id", "district_code", "status", "established_on")
REQUIRED += ("created_at", "updated_at")
OPTIONAL = ("phone", "address", "reg_capital")


def scorecard(router: RouterProcess, *args: str) -> dict[str, Any]:
    return cli_json(router, "quality", "scorecard", *args)


def test_the_scorecard_counts_a_controlled_stream_exactly(
    stack_settings: Settings,
    capture_factory: Callable[..., CaptureSpec],
    router_factory: Callable[..., RouterProcess],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    market = capture_factory("market", own_database=True)  # no other writer: counts are exact
    catalog = write_catalog(tmp_path / "catalog", {"market": market.department})
    router = router_factory(catalog, SHAREBUS_QUALITY_FEEDBACK_EVERY="2")
    factory = RowFactory.for_settings(stack_settings, seed=17)
    rows = [factory.enterprise() for _ in range(5)]
    for row in rows:
        row["phone"] = row["phone"] or "023-61234567"
    rows[1] |= {"phone": None, "address": None, "reg_capital": None}  # valid, incomplete
    bad = rows[2]["uscc"]
    rows[2]["uscc"] = bad[:17] + ("0" if bad[17] != "0" else "1")  # fails its check character
    for row in rows:
        insert(stack_settings, market.db_name, "enterprise", row)
    with psycopg.connect(stack_settings.pg_dsn(market.db_name), autocommit=True) as conn:
        conn.execute("UPDATE public.enterprise SET status = 'suspended' WHERE uscc = %s", (rows[0]["uscc"],))
    images = [*rows, {**rows[0], "status": "suspended"}]  # every after-image, the invalid one too
    resource = f"{market.department}.enterprise"

    def counted() -> dict[str, Any] | None:
        report = scorecard(router, "--since", "1d")
        row = next(r for r in report["rows"] if r["resource"] == resource)
        return report if row["seen"] >= len(images) else None

    report = wait_until(counted, 60, f"{len(images)} changes of {resource} in the scorecard", interval=1.0)
    by_resource = {r["resource"]: r for r in report["rows"]}
    ent = by_resource[resource]
    assert ent["seen"] == 6 and ent["invalid"] == 1
    assert ent["validity"] == round(5 / 6, 4)
    filled = {f: sum(1 for img in images if img.get(f) is not None) for f in (*REQUIRED, *OPTIONAL)}
    completeness = (sum(2 * filled[f] / 6 for f in REQUIRED) + sum(filled[f] / 6 for f in OPTIONAL)) / 21
    assert ent["completeness"] == round(completeness, 4)
    assert ent["fresh"] is True and ent["timeliness"] == 1.0  # routed within 60 s of each commit
    expected = 100 * (0.30 * 5 / 6 + 0.25 * completeness + 0.20 + 0.15 + 0.10)
    assert ent["score"] == round(expected, 1)
    assert ent["problems"][0] == "1 of 6 records failed checks (code 1)"
    assert ent["unit"] and ent["mean_latency_s"] is not None

    # A resource of the catalog nobody changed is stale: no timeliness, nothing else lost.
    inspection = by_resource[f"{market.department}.inspection"]
    assert inspection["seen"] == 0 and inspection["fresh"] is False
    assert inspection["timeliness"] == 0.0 and inspection["score"] == 80.0

    # The department's score is the mean of its resources'; the ranking puts the best first.
    departments = scorecard(router, "--by", "department", "--since", "1d", "--rank")
    mine = next(r for r in departments["rows"] if r["department"] == market.department)
    own = [r["score"] for r in report["rows"] if r["department"] == market.department]
    assert mine["score"] == pytest.approx(sum(own) / len(own), abs=0.06)
    assert [r["rank"] for r in departments["rows"]] == list(range(1, len(departments["rows"]) + 1))
    scores = [r["score"] for r in departments["rows"]]
    assert scores == sorted(scores, reverse=True)

    # The daily view: today's score of the resource is the same figures' score.
    daily = scorecard(router, "--daily", "--since", "1d")
    assert daily["days"][-1]["scores"][resource] == ent["score"]

    # The department reads the day's failure on its feedback topic, with a sample key it can find
    # the row by, its responsible unit and contact; another department's feedback is refused.
    dept = market.department
    added = run_cli(subscriber_cli, router, ["add", dept, "--json"], monkeypatch)
    assert added.exit_code == 0, added.stderr
    login = json.loads(added.stdout)
    config = district_config(
        login["bootstrap.servers"], login["sasl.username"], login["sasl.password"], ca_pem=login["ssl.ca.pem"]
    )
    key = f"{resource}/code/{datetime.now(UTC).date().isoformat()}".encode()

    def told() -> dict[str, Any] | None:
        records = read_as(config, f"feedback.{dept}", f"{dept}.feedback")
        found = [json.loads(m.value()) for m in records if m.key() == key]
        return found[-1] if found else None

    feedback = wait_until(told, 60, f"the feedback record {key!r}", interval=2.0)
    assert feedback["count"] == 1 and feedback["problem"] == "code"
    assert feedback["sample_key"] == f"uscc={rows[2]['uscc']}"  # a public key: shown whole
    assert feedback["responsible_unit"] == ent["unit"] and feedback["contact"]["phone"]
    assert feedback["first_seen"] <= feedback["last_seen"]
    assert "AUTHORIZATION" in refused(config, "feedback.hrss", f"{dept}.feedback")

    # The unit's monthly report: one self-contained page, its score the unit's in the scorecard.
    units = scorecard(router, "--by", "unit", "--since", "1d")
    unit_score = next(r["score"] for r in units["rows"] if r["unit"] == ent["unit"])
    page_file = tmp_path / "report.html"
    made = run_cli(
        quality_cli, router, ["report", "--unit", ent["unit"], "--out", str(page_file)], monkeypatch
    )
    assert made.exit_code == 0, made.stderr
    html = page_file.read_text(encoding="utf-8")
    assert "<script" not in html and "http" not in html.split("<body", 1)[1]  # nothing fetched
    with chromium_page(tmp_path / "profile") as page:
        page.goto(page_file.as_uri())
        shown = page.evaluate(
            "() => ({score: document.body.dataset.score,"
            " rows: [...document.querySelectorAll('tr[data-resource]')].map((r) => r.dataset.resource),"
            " charts: document.querySelectorAll('svg.chart').length})"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "quality-report.png"), full_page=True)
    assert float(shown["score"]) == pytest.approx(unit_score, abs=0.06)
    assert resource in shown["rows"] and shown["charts"] == 2
