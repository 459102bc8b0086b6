"""Audit events counted end to end: events the admin writes to the (shared) audit topic show up in
`sharebus metrics audit --json` from the running worker within seconds, with exact counts; a
restarted worker resumes after what it stored (nothing counted twice)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sharebus.core.audit import ACL_GRANT, ACL_REVOKE, CREDENTIAL_ROTATE, POLICY_WITHHOLD, AuditLog, event
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until
from streams.metrics.api import fetch_report
from tests.integration.router_harness import RouterProcess, write_catalog

pytestmark = pytest.mark.integration


def metrics_json(router: RouterProcess, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "sharebus", "metrics", *args, "--json"],
        env=router.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def wait_for_subject(router: RouterProcess, subject: str, count: int, timeout: float = 10.0) -> float:
    """Seconds until the worker's metrics API counts `count` for `subject` (asked every 50 ms)."""
    started = time.monotonic()
    mine: list[dict[str, Any]] = []

    def counted() -> bool:
        report = fetch_report(router.settings, "audit", {"by": "subject", "since": "1h"})
        mine[:] = [r for r in report["rows"] if r["subject"] == subject]
        return bool(mine) and mine[0]["count"] >= count

    wait_until(
        counted, timeout, f"the metrics to count {count} for {subject}", interval=0.05, last=lambda: mine
    )
    return time.monotonic() - started


def test_audit_events_are_counted_by_the_running_worker(
    stack_settings: Settings, router_factory: Callable[[Path], RouterProcess], tmp_path: Path
) -> None:
    router = router_factory(write_catalog(tmp_path / "catalog", {}))
    subject = f"t{uuid.uuid4().hex[:10]}"  # the audit topic is shared: only this subject is ours
    target = f"share.{subject}.market"

    def ev(action: str, count: int = 1) -> Any:
        return event(stack_settings, action, subject, target, catalog_version="test", count=count)

    log = AuditLog(stack_settings)  # the admin, as the CLI writes them
    log.write([ev(ACL_GRANT), ev(ACL_GRANT), ev(ACL_REVOKE), ev(POLICY_WITHHOLD, count=25)])
    latency = wait_for_subject(router, subject, 28)
    print(f"audit events counted {latency * 1000:.0f} ms after they were written")

    report = metrics_json(router, "audit", "--by", "subject", "--since", "1h")
    (mine,) = [r for r in report["rows"] if r["subject"] == subject]
    assert mine == {
        "subject": subject,
        "count": 28,
        "events": 4,
        "actions": {POLICY_WITHHOLD: 25, ACL_GRANT: 2, ACL_REVOKE: 1},
    }
    by_target = metrics_json(router, "audit", "--by", "target")
    assert [r["count"] for r in by_target["rows"] if r["target"] == target] == [28]
    by_action = metrics_json(router, "audit")
    counts = {r["action"]: r["count"] for r in by_action["rows"]}
    assert counts[POLICY_WITHHOLD] >= 25 and counts[ACL_GRANT] >= 2 and counts[ACL_REVOKE] >= 1
    assert by_action["totals"]["count"] == sum(counts.values())

    # Stopped, more events written meanwhile, started again: it resumes after what it stored.
    assert router.stop() == 0
    log.write([ev(CREDENTIAL_ROTATE), ev(ACL_REVOKE)])
    router.start()
    wait_for_subject(router, subject, 30)
    report = metrics_json(router, "audit", "--by", "subject", "--since", "1h")
    (mine,) = [r for r in report["rows"] if r["subject"] == subject]
    actions = {POLICY_WITHHOLD: 25, ACL_GRANT: 2, ACL_REVOKE: 2, CREDENTIAL_ROTATE: 1}
    assert mine == {"subject": subject, "count": 30, "events": 6, "actions": actions}
