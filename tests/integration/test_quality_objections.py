"""Objections (疑义) through the real stack: a district objects to an enterprise record it
received (by its key and offset); a district that did not receive it is refused; the department
reads the objection on its feedback topic, sees it and acknowledges it (another subscriber can
neither see nor answer it); the source row's objected field changes and the worker marks the
objection corrected; the audit trail has each step and the scorecard counts it resolved in time."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.render import CaptureSpec
from schemas.keys import parse_share_key
from sharebus.apps.acl.broker import Broker
from sharebus.core import naming
from sharebus.core.audit import OBJECTION_ANSWER, OBJECTION_RAISE, read_audit
from sharebus.core.errors import ExitCode
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.waiting import wait_until
from tests.integration.router_harness import RouterProcess, write_catalog
from tests.integration.test_metrics_e2e import insert
from tests.integration.test_quality_consistency import records_at, topic_records

pytestmark = pytest.mark.integration

DISTRICT, OTHER = "500103", "500101"


@pytest.fixture
def logins(stack_settings: Settings) -> Iterator[Callable[[str], dict[str, str]]]:
    """Kafka logins made for the test (a district's, a department's), removed after it."""
    broker, made = Broker(stack_settings), []

    def login(user: str) -> dict[str, str]:
        password = secrets.token_hex(12)
        broker.set_password(user, password)
        made.append(user)
        return {"SHAREBUS_KAFKA_USER": user, "SHAREBUS_KAFKA_PASSWORD": password}

    yield login
    for user in made:
        broker.delete_user(user)


def test_an_objection_reaches_the_department_and_a_source_change_corrects_it(
    stack_settings: Settings,
    capture_factory: Callable[..., CaptureSpec],
    router_factory: Callable[..., RouterProcess],
    sharebus_cli: Callable[..., Any],
    logins: Callable[[str], dict[str, str]],
    tmp_path: Path,
) -> None:
    market = capture_factory("market", own_database=True)
    router = router_factory(write_catalog(tmp_path / "catalog", {"market": market.department}))
    settings, dept = router.settings, market.department
    resource = f"{dept}.enterprise"
    firm = RowFactory.for_settings(stack_settings, seed=31).enterprise() | {"district_code": DISTRICT}
    insert(stack_settings, market.db_name, "enterprise", firm)
    topic = naming.share_topic(DISTRICT, dept)

    def received() -> tuple[int] | None:
        """The offset of the firm's newest record on the district's topic (a tuple: 0 is one)."""
        offsets = [
            offset
            for offset, key, value in records_at(stack_settings, topic)
            if key and value and parse_share_key(key) == (resource, {"uscc": firm["uscc"]})
        ]
        return (offsets[-1],) if offsets else None

    (offset,) = wait_until(received, 60, f"{firm['uscc']} on {topic}", interval=1.0)
    env = {k: v for k, v in router.env.items() if k.startswith("SHAREBUS_")}
    as_district, as_other, as_dept = ({**env, **logins(user)} for user in (DISTRICT, OTHER, dept))
    key = f"uscc={firm['uscc']}"
    objecting: tuple[str, ...] = ("district", "object", resource, key, "--offset", str(offset))
    objecting += ("--field", "phone", "--reason", "the number is the old office's", "--json")

    # A district objects only to a record it received: the other district's topic has no such record.
    refused = sharebus_cli(*objecting, env=as_other)
    assert refused.exit_code == ExitCode.REFUSED, refused.stdout
    assert "is not a record this subscriber received" in json.loads(refused.stdout)["problem"]

    raised = sharebus_cli(*objecting, env=as_district)
    assert raised.exit_code == 0, raised.stderr + raised.stdout
    objection = json.loads(raised.stdout)
    oid = objection["id"]
    assert objection["state"] == "open" and objection["department"] == dept

    # The department reads it on its feedback topic, with the unit responsible and its contact.
    wanted = naming.objection_feedback_key(resource, oid).encode()

    def told() -> dict[str, Any] | None:
        found = [v for k, v in topic_records(stack_settings, naming.feedback_topic(dept)) if k == wanted]
        return json.loads(found[-1]) if found and found[-1] else None

    feedback = wait_until(told, 30, f"the feedback record {wanted!r}", interval=1.0)
    assert feedback is not None
    assert feedback["problem"] == "objection" and feedback["reason"] == "the number is the old office's"
    assert feedback["responsible_unit"] and feedback["contact"]

    # The department sees it and acknowledges it; another subscriber sees nothing and answers nothing.
    listed = sharebus_cli("quality", "objections", "--json", env=as_dept)
    assert [o["id"] for o in json.loads(listed.stdout)] == [oid]
    assert json.loads(sharebus_cli("quality", "objections", "--json", env=as_other).stdout) == []
    stranger = sharebus_cli("quality", "answer", oid, "reject", "--reason", "no", "--json", env=as_other)
    assert stranger.exit_code == ExitCode.REFUSED and "no such objection" in stranger.stdout
    sent = sharebus_cli("quality", "answer", oid, "correct", "--json", env=as_district)
    assert sent.exit_code == ExitCode.REFUSED and f"is {dept}'s to answer" in sent.stdout
    seen = sharebus_cli("quality", "answer", oid, "acknowledge", "--json", env=as_dept)
    assert seen.exit_code == 0 and json.loads(seen.stdout)["state"] == "acknowledged"

    # The source row's phone changes: the worker marks the objection corrected.
    with psycopg.connect(stack_settings.pg_dsn(market.db_name), autocommit=True) as conn:
        conn.execute(
            "UPDATE public.enterprise SET phone = %s WHERE uscc = %s", ("023-60000001", firm["uscc"])
        )

    def state() -> str:
        rows = json.loads(sharebus_cli("quality", "objections", "--json", env=as_district).stdout)
        return str(rows[0]["state"])

    wait_until(lambda: state() == "corrected", 60, f"objection {oid} corrected", interval=1.0)
    steps = [
        (e["action"], e["detail"]["state"])
        for e in read_audit(settings)
        if e.get("action") in (OBJECTION_RAISE, OBJECTION_ANSWER) and e["detail"].get("id") == oid
    ]
    assert steps == [
        (OBJECTION_RAISE, "open"),
        (OBJECTION_ANSWER, "acknowledged"),
        (OBJECTION_ANSWER, "corrected"),
    ]

    # Resolved within the days allowed: the resource's objections indicator is whole.
    card = sharebus_cli("quality", "scorecard", "--since", "1d", "--json", env=env)
    row = next(r for r in json.loads(card.stdout)["rows"] if r["resource"] == resource)
    assert row["objections"] == 1.0
