"""The demand workflow's steps taken as the admin through the real stack: each one makes a live,
signed catalog version, syncs the ACLs and is audited; a refused step changes nothing; the live
catalog exports back to a folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import DemandStatus
from sharebus.core.audit import DEMAND_APPROVE, DEMAND_REQUEST, DEMAND_REVOKE, read_audit
from sharebus.core.errors import ExitCode
from sharebus.core.settings import Settings
from streams.router.live_catalog import catalog_from, latest_catalog


def test_request_approve_revoke_each_publish_a_version_and_are_audited(
    stack_settings: Settings,
    sharebus_cli: Callable[..., Any],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique("catalog-demands")
    env = {"SHAREBUS_CATALOG_TOPIC": topic}  # this test's live catalog: the workers' is left alone
    since = datetime.now(UTC)
    until = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    def sharebus(*args: str) -> Any:
        return sharebus_cli("demand", *args, "--json", env=env)

    asked = sharebus(
        "request",
        "--subscriber", "500106",
        "--resource", "realestate.certificate",
        "--field", "cert_no", "--field", "district_code",
        "--purpose", "不动产登记核验",
        "--contact-name", "王工", "--contact-phone", "023-12345678",
        "--until", until,
    )  # fmt: skip
    assert asked.exit_code == 0, asked.stderr
    made = json.loads(asked.stdout)
    demand_id = made["demand"]["id"]
    assert made["to"] == "pending" and made["demand"]["subscriber"] == "500106"

    refused = sharebus("approve", demand_id)  # conditional: the department's consent is missing
    assert refused.exit_code == ExitCode.REFUSED and "must consent" in refused.stderr
    assert "Traceback" not in refused.stderr

    approved = sharebus("approve", demand_id, "--consent", "不动产登记中心", "--reason", "核验用途明确")
    assert approved.exit_code == 0, approved.stderr
    step = json.loads(approved.stdout)
    assert (step["from"], step["to"]) == ("pending", "approved")
    settings = stack_settings.model_copy(update={"catalog_topic": topic})
    texts = latest_catalog(settings, "chongqing")
    assert texts is not None
    live = {d.id: d for d in catalog_from(texts, "live").demands}[demand_id]
    assert live.status is DemandStatus.APPROVED and live.approver == stack_settings.kafka_admin_user
    assert live.fields == ("cert_no", "district_code")

    listed = sharebus_cli("demand", "list", "--subscriber", "500106", "--json", env=env)
    states = {d["id"]: d["state"] for d in json.loads(listed.stdout)["demands"]}
    assert states[demand_id] == "approved"

    again = sharebus("approve", demand_id, "--consent", "x")
    assert again.exit_code == ExitCode.REFUSED and "only a pending demand" in again.stderr
    unsaid = sharebus("revoke", demand_id)
    assert unsaid.exit_code == ExitCode.REFUSED and "says why" in unsaid.stderr

    revoked = sharebus("revoke", demand_id, "--reason", "用途已完成")
    assert revoked.exit_code == 0, revoked.stderr
    assert json.loads(revoked.stdout)["to"] == "revoked"
    versions = {made["version"], step["version"], json.loads(revoked.stdout)["version"]}
    assert len(versions) == 3  # each step is a catalog version of its own

    steps = [
        (r["action"], r["detail"].get("to"))
        for r in read_audit(stack_settings, since=since)
        if r.get("catalog_version") in versions and r["detail"].get("demand") == demand_id
    ]
    assert steps == [(DEMAND_REQUEST, "pending"), (DEMAND_APPROVE, "approved"), (DEMAND_REVOKE, "revoked")]
    # The folder the admin keeps in git holds the decisions, and the live catalog exports as it.
    kept = load_catalog(tmp_path / "catalog" / "chongqing")
    assert {d.id: d for d in kept.demands}[demand_id].status is DemandStatus.REVOKED
    out = tmp_path / "export" / "chongqing"
    exported = sharebus_cli("catalog", "export", "--out", str(out), "--json", env=env)
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["version"] == json.loads(revoked.stdout)["version"]
    assert load_catalog(out) == kept and {d.id: d for d in kept.demands}[demand_id].note == "用途已完成"
