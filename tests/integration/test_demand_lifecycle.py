"""A demand's whole life through the real stack, each step one call and nothing else run by hand:
requested by the zone itself over the worker's web API (its self-approval refused there), approved
by the data authority over the same API (the demand desk takes both; rows arrive by the backfill
follower, access by the ACL follower), expired (access refused, rows destroyed, reconcile 0,
audited); then requested and revoked with the CLI, the same at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.render import CaptureSpec
from sharebus.apps.acl.follow import AclFollower
from sharebus.apps.demand_api import DEMANDS_PATH
from sharebus.apps.demand_desk import DemandDesk
from sharebus.apps.district.backfills import Backfiller
from sharebus.cli.demand import demand as demand_cli
from sharebus.cli.subscriber import subscriber as subscriber_cli
from sharebus.core.audit import DATA_DESTROY, DEMAND_APPROVE, DEMAND_REQUEST, DEMAND_REVOKE, read_audit
from sharebus.core.https import verify, web_url
from sharebus.core.kafka_clients import http_login, kafka_config
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until
from tests.integration.router_harness import RouterProcess
from tests.integration.test_district_sync import certificates, insert, reconcile_now, run_cli, sync_once
from tests.integration.test_security import district_config, read_as, refused

pytestmark = pytest.mark.integration

Z, ZD, OTHER = "wansheng", "500110", "500103"  # a zone without a demand in the sample, its district
FIELDS = ("cert_no", "area_m2", "use", "district_code")


class Followers:
    """The admin's parts as `sharebus run` starts them (backfills, ACLs, the demand desk), in threads."""

    def __init__(self, settings: Settings) -> None:
        self.lines: list[str] = []
        self.backfills = Backfiller(settings, self.lines.append, grace=1.0)
        self.acls = AclFollower(settings, self.lines.append)
        self.desk = DemandDesk(settings, self.lines.append)
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._run, args=(lambda: self.backfills.follow(0.5),), daemon=True),
            threading.Thread(target=self._run, args=(lambda: self.acls.follow(0.5),), daemon=True),
            threading.Thread(target=self._run, args=(lambda: self.desk.follow(0.5),), daemon=True),
        ]

    def _run(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as exc:
            self.errors.append(exc)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.backfills.stop()
        self.acls.stop()
        self.desk.stop()
        for thread in self.threads:
            thread.join(30)
        self.backfills.close()
        self.desk.close()
        print("--- followers ---\n" + "\n".join(self.lines[-40:]))
        assert not self.errors, self.errors


@pytest.fixture
def followers() -> Iterator[Callable[[Settings], Followers]]:
    made: list[Followers] = []

    def make(settings: Settings) -> Followers:
        f = Followers(settings)
        made.append(f)
        f.start()
        return f

    yield make
    for f in made:
        f.stop()


def test_a_demand_lives_from_request_to_destruction_by_expiry_and_by_revoke(
    stack_settings: Settings,
    source_db_factory: Callable[..., CaptureSpec],
    catalog_factory: Callable[..., Path],
    router_factory: Callable[[Path], RouterProcess],
    followers: Callable[[Settings], Followers],
    district_db: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    rows = certificates(stack_settings, [ZD] * 8 + [OTHER] * 4)
    spec = source_db_factory("realestate", lambda conn: insert(conn, "certificate", rows))
    resource = f"{spec.department}.certificate"
    topic = f"share.{Z}.{spec.department}"
    router = router_factory(catalog_factory(realestate=spec))
    settings = router.settings
    since = datetime.now(UTC)

    def sharebus(command: Any, *args: str) -> Any:
        result = run_cli(command, router, [*args], monkeypatch)
        assert result.exit_code == 0, result.stderr
        return result

    def step(*args: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(sharebus(demand_cli, *args, "--json").stdout)
        return out

    def district_rows() -> int:
        sync_once(settings, Z, district_db["url"], [resource])
        return reconcile_now(settings, Z, district_db["url"], resources=[resource]).resources[0].district

    # The zone's own login, made before it is entitled to anything: its topic is refused. (A
    # login left by an interrupted run goes first.)
    left = run_cli(subscriber_cli, router, ["disable", Z], monkeypatch)
    assert left.exit_code == 0 or "nothing to disable" in left.stderr, left.stderr
    login = json.loads(sharebus(subscriber_cli, "add", Z, "--json").stdout)
    config = district_config(
        login["bootstrap.servers"], login["sasl.username"], login["sasl.password"], ca_pem=login["ssl.ca.pem"]
    )
    group = f"{Z}.lifecycle"
    crew = followers(settings)
    wait_until(
        lambda: crew.backfills.log.reach(settings.city) is not None, 60, "the follower's baseline reach"
    )

    def request() -> str:
        """Request with the CLI (as the admin, for the zone)."""
        asked = step(
            "request",
            "--subscriber", Z,
            "--resource", resource,
            *(a for f in FIELDS for a in ("--field", f)),
            "--purpose", "万盛经开区不动产统计",
            "--contact-name", "李工", "--contact-phone", "023-48000000",
            "--until", (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        )  # fmt: skip
        assert asked["to"] == "pending"
        return str(asked["demand"]["id"])

    def approve(demand_id: str) -> float:
        """Approve with the CLI; seconds until the zone's rows (8) are in its database."""
        t0 = time.monotonic()
        approved = step("approve", demand_id, "--consent", "不动产登记中心")
        assert approved["to"] == "approved"
        wait_until(lambda: district_rows() == 8, 60, f"{Z}'s 8 rows after the approval of {demand_id}")
        return time.monotonic() - t0

    def destroyed(demand_id: str, reason: str) -> float:
        """Seconds until the rows are gone, access refused, reconcile 0 and the destruction audited."""
        t0 = time.monotonic()
        wait_until(lambda: district_rows() == 0, 60, f"{Z}'s rows of {resource} destroyed")
        gone = time.monotonic() - t0
        assert "AUTHORIZATION" in refused(config, topic, group)
        report = reconcile_now(settings, Z, district_db["url"], resources=[resource])
        assert report.differences == 0, report.to_dict()

        def audited() -> list[dict[str, Any]]:
            return [
                r
                for r in read_audit(settings, since=since)
                if r["action"] == DATA_DESTROY and demand_id in r["detail"]["demands"]
            ]

        wait_until(audited, 30, f"the destruction of {demand_id} audited")
        [record] = audited()
        assert record["subject"] == Z and record["target"] == resource
        assert record["detail"]["reason"] == reason and record["count"] == 8
        return gone

    # 1. Requested by the zone itself over the web API: nothing delivered, nothing readable; its
    # own approval is refused there (and never reaches the desk).
    web = requests.Session()
    web.verify, web.trust_env = verify(settings), False
    api = web_url(settings, DEMANDS_PATH)
    zone = (login["sasl.username"], login["sasl.password"])
    asked = {
        "resource": resource,
        "fields": list(FIELDS),
        "purpose": "万盛经开区不动产统计",
        "contact": {"name": "李工", "phone": "023-48000000"},
        "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    made = web.post(api, json=asked, auth=zone, timeout=60)
    assert made.status_code == 201, made.text
    first = made.json()["demand"]["id"]
    assert made.json()["to"] == "pending" and made.json()["demand"]["subscriber"] == Z
    assert [d["id"] for d in web.get(api, auth=zone, timeout=30).json()["demands"]] == [first]
    own = web.post(f"{api}/{first}/approve", json={"consent": "自己"}, auth=zone, timeout=30)
    assert own.status_code == 403 and "never decides its own demand" in own.json()["problem"]
    assert "AUTHORIZATION" in refused(config, topic, group)
    # 2. Approved by the data authority for a short while: the rows arrive with no other call.
    validity = 25.0
    until = datetime.now(UTC) + timedelta(seconds=validity)
    authority = http_login(settings)
    assert authority is not None
    t0 = time.monotonic()
    decided = {"consent": "不动产登记中心", "valid_until": until.isoformat(), "reason": "用途明确"}
    approved = web.post(f"{api}/{first}/approve", json=decided, auth=authority, timeout=60)
    assert approved.status_code == 200, approved.text
    assert (
        approved.json()["to"] == "approved" and approved.json()["demand"]["valid_until"] == until.isoformat()
    )
    assert web.get(f"{api}/{first}", auth=zone, timeout=30).json()["demand"]["state"] == "approved"
    wait_until(lambda: district_rows() == 8, 60, f"{Z}'s 8 rows after the approval of {first}")
    took = time.monotonic() - t0
    assert len(read_as(config, topic, group)) >= 8
    # 3. Expired: access removed, rows destroyed, reconcile 0, audited — with no command.
    wait_until(lambda: datetime.now(UTC) >= until, validity + 5, "the demand's validity to end")
    expired = destroyed(first, "expired")
    # 4. Requested again, approved, revoked: the same at once.
    second = request()
    took_again = approve(second)
    t0 = time.monotonic()
    step("revoke", second, "--reason", "用途已完成")
    revoked = destroyed(second, "revoked")
    print(
        f"approve → rows: {took:.1f}s, {took_again:.1f}s; expiry → rows gone {expired:.1f}s;"
        f" revoke → rows gone {revoked:.1f}s ({time.monotonic() - t0:.1f}s with the checks)"
    )

    steps = [
        (r["action"], r["detail"].get("demand"))
        for r in read_audit(settings, since=since)
        if r["action"] in (DEMAND_REQUEST, DEMAND_APPROVE, DEMAND_REVOKE)
    ]
    assert steps == [
        (DEMAND_REQUEST, first),
        (DEMAND_APPROVE, first),
        (DEMAND_REQUEST, second),
        (DEMAND_APPROVE, second),
        (DEMAND_REVOKE, second),
    ]

    # The zone was told of every transition on its own notification topic, which it still reads
    # with no demand left; the owning department's topic has the same.
    def told(topic: str, cfg: dict[str, Any]) -> dict[str, list[str]]:
        events: dict[str, list[str]] = {}
        for msg in read_as(cfg, topic, f"{Z}.notices"):  # its notice grant's group
            notice = json.loads(msg.value())
            events.setdefault(notice["demand"], []).append(notice["event"])
        return events

    def all_told() -> dict[str, list[str]]:
        events = told(f"notice.{Z}", config)
        return events if len(events.get(second, [])) == 4 else {}

    zone_told = wait_until(all_told, 30, "the zone's notices of both demands")
    assert zone_told[first] == ["request", "approve", "destroy"]
    assert sorted(zone_told[second]) == ["approve", "destroy", "request", "revoke"]
    department = told(f"notice.{spec.department}", kafka_config(settings))
    assert department[first] == zone_told[first]
    sharebus(subscriber_cli, "disable", Z)
