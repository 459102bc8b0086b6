"""District isolation on the real broker with SASL/SCRAM and ACLs: each district reads only its
topics, nobody reads without credentials, revocation and rotation lock out, all of it audited."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException

from connectors.render import CaptureSpec
from schemas.keys import share_key
from sharebus.apps.acl.broker import Broker
from sharebus.core.audit import read_audit
from sharebus.core.kafka_clients import admin_client, scram_config
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.waiting import wait_until
from streams.router.live_catalog import publish_catalog
from tests.integration.router_harness import (
    RouterProcess,
    keys_of,
    read_share,
    read_topic,
    set_demands,
    write_catalog,
)
from tests.integration.test_router import db_writer

pytestmark = pytest.mark.integration

A, B = "500107", "500108"


def district_config(bootstrap: str, user: str, password: str, *, ca_pem: str) -> dict[str, object]:
    """A district's librdkafka config from what `subscriber add --json` printed."""
    return {**scram_config(bootstrap, user, password), "ssl.ca.pem": ca_pem}


@pytest.fixture
def factory(stack_settings: Settings) -> RowFactory:
    return RowFactory.for_settings(stack_settings, seed=time.time_ns() % 1_000_000)


def read_as(config: dict[str, Any], topic: str, group: str, timeout: float = 20.0) -> list[Any]:
    """Records of `topic` read with a district's client config; raises KafkaException on an
    authorization or authentication error (what a district's client sees)."""
    failures: list[KafkaError] = []  # login failures reach the error callback, not poll()
    consumer = Consumer(
        {
            **config,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "error_cb": failures.append,
        }
    )
    consumer.subscribe([topic])
    records: list[Any] = []

    def at_the_end() -> bool:
        msg = consumer.poll(0.5)
        if any(f.code() == KafkaError._AUTHENTICATION for f in failures):
            raise KafkaException(next(f for f in failures if f.code() == KafkaError._AUTHENTICATION))
        error = msg.error() if msg is not None else None
        if msg is not None and error is None:
            records.append(msg)
        elif error is not None and error.code() == KafkaError._PARTITION_EOF:
            return True
        elif error is not None and (
            error.fatal() or not error.retriable() or "AUTHORIZATION" in error.name()
        ):
            raise KafkaException(error)
        return False

    try:
        wait_until(
            at_the_end, timeout, f"the end of {topic}", interval=0, last=lambda: f"{len(records)} read"
        )
        return records
    finally:
        consumer.close()


def refused(config: dict[str, Any], topic: str, group: str) -> str:
    """The error a client gets reading `topic`: must be an authorization/authentication refusal."""
    with pytest.raises(KafkaException) as caught:
        read_as(config, topic, group, timeout=20.0)
    return str(caught.value.args[0].name())


def test_each_district_reads_only_its_own_topics_until_revoked_or_rotated(
    stack_settings: Settings,
    capture_factory: Callable[[str], CaptureSpec],
    router_factory: Callable[[Path], RouterProcess],
    sharebus_cli: Callable[..., Any],
    factory: RowFactory,
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    market, realestate = capture_factory("market"), capture_factory("realestate")
    now = datetime.now(UTC)
    everyone = {
        "id": "S-0",
        "subscriber": "all-districts",
        "resource": f"{market.department}.enterprise",
        "purpose": "test",
        "status": "approved",
        "approver": "test",
        "valid_from": (now - timedelta(days=1)).isoformat(),
    }
    certificates = {
        "id": "S-1",
        "subscriber": A,
        "resource": f"{realestate.department}.certificate",
        "purpose": "test",
        "status": "approved",
        "approver": "test",
        "fields": ["cert_no", "area_m2", "use", "district_code"],
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
    }
    departments = {"market": market.department, "realestate": realestate.department}
    catalog = write_catalog(tmp_path / "catalog", departments, [everyone, certificates])
    router = router_factory(catalog)
    settings = router.settings
    env = {k: v for k, v in router.env.items() if k.startswith("SHAREBUS_")}
    a_enterprise = f"share.{A}.{market.department}"
    b_enterprise = f"share.{B}.{market.department}"
    a_certificate = f"share.{A}.{realestate.department}"
    a_prefix = f"share.{A}."

    # Data in A's and B's topics, delivered by the router.
    enterprises = db_writer(stack_settings, "dept_market")
    for code in (A, B):
        row = factory.enterprise()
        row["district_code"] = code
        enterprises("insert", "enterprise", row)
        read_share(
            stack_settings,
            code,
            f"{market.department}.enterprise",
            until=lambda rs, u=row["uscc"]: u in keys_of(rs, "uscc"),
        )
    cert = factory.certificate(time.time_ns() % 10**7)
    cert["district_code"] = A
    db_writer(stack_settings, "dept_realestate")("insert", "certificate", cert)
    read_topic(stack_settings, a_certificate, until=lambda rs: cert["cert_no"] in keys_of(rs, "cert_no"))
    cert_key = share_key(f"{realestate.department}.certificate", {"cert_no": cert["cert_no"]})

    # A's login and grants left by an earlier run or another test (an `acl sync` of the sample
    # catalog grants every district) go first: this test's own are made, and audited, below.
    gone = sharebus_cli("subscriber", "disable", A, env=env)
    assert gone.exit_code == 0 or "nothing to disable" in gone.stderr, gone.stderr
    assert A not in Broker(settings).users()
    # ACLs from the catalog; A's login.
    synced = sharebus_cli("acl", "sync", "--json", env=env)
    assert synced.exit_code == 0, synced.stderr
    added = sharebus_cli("subscriber", "add", A, "--json", env=env)
    assert added.exit_code == 0, added.stderr
    client = json.loads(added.stdout)
    assert client["bootstrap.servers"] == settings.kafka_public_bootstrap
    assert set(client["topics"]) >= {a_enterprise, a_certificate} and b_enterprise not in client["topics"]
    assert client["sasl.password"] not in added.stderr  # printed once, on stdout only
    # As a district uses it: the login and the bus's CA, inline (`ssl.ca.pem`).
    assert client["security.protocol"] == "SASL_SSL" and "BEGIN CERTIFICATE" in client["ssl.ca.pem"]
    as_district = partial(district_config, ca_pem=client["ssl.ca.pem"])
    config = as_district(client["bootstrap.servers"], client["sasl.username"], client["sasl.password"])
    group = f"{A}.{unique('g')}"

    # A reads A's topics; B's topic and a group outside A's prefix are refused.
    assert len(read_as(config, a_enterprise, group)) >= 1
    assert len(read_as(config, a_certificate, group)) >= 1
    assert "AUTHORIZATION" in refused(config, b_enterprise, group)
    assert "AUTHORIZATION" in refused(config, a_enterprise, f"{B}.{unique('g')}")

    # No credentials, or a wrong password: refused at the door. So are the right credentials
    # without the bus's CA (the system's trusted CAs only), or in clear (SASL_PLAINTEXT).
    with pytest.raises(KafkaException):
        admin_client({"bootstrap.servers": settings.kafka_public_bootstrap}).list_topics(timeout=5)
    untrusted = scram_config(settings.kafka_public_bootstrap, A, client["sasl.password"])
    in_clear = scram_config(settings.kafka_public_bootstrap, A, client["sasl.password"], "SASL_PLAINTEXT")
    for unsafe in (untrusted, in_clear):
        with pytest.raises(KafkaException):
            admin_client(unsafe).list_topics(timeout=5)
    wrong = as_district(settings.kafka_public_bootstrap, A, "not-the-password")
    assert "AUTHENTICATION" in refused(wrong, a_enterprise, group)

    shown = sharebus_cli("acl", "show", A, "--json", env=env)
    assert shown.exit_code == 0
    assert {e["name"] for e in json.loads(shown.stdout)["acls"] if e["state"] == "ok"} >= {a_prefix}

    # A's certificate demand is revoked: the router tombstones every certificate A had (A reads
    # the tombstone, as a district's sync does) and withholds A's next one (audited); `acl sync`
    # keeps A's prefix, for the resources it still receives.
    set_demands(catalog, [everyone, {**certificates, "status": "revoked"}])
    published = publish_catalog(settings)

    def withdrawn() -> bool:
        records = [m for m in read_as(config, a_certificate, group) if m.key() == cert_key]
        return bool(records) and records[-1].value() is None

    wait_until(
        withdrawn, 30, f"the withdrawal tombstone of {cert['cert_no']} in {a_certificate}", interval=1.0
    )
    revoked = sharebus_cli("acl", "sync", "--json", env=env)
    assert revoked.exit_code == 0, revoked.stderr
    assert json.loads(revoked.stdout)["remove"] == []
    assert len(read_as(config, a_enterprise, group)) >= 1  # the rest of A's access stands
    held = factory.certificate(time.time_ns() % 10**7)
    held["district_code"] = A
    db_writer(stack_settings, "dept_realestate")("insert", "certificate", held)

    # Rotation: the old password is refused, the new one works.
    rotated = sharebus_cli("subscriber", "rotate", A, "--json", env=env)
    assert rotated.exit_code == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert new["sasl.password"] != client["sasl.password"]
    assert "AUTHENTICATION" in refused(config, a_enterprise, group)
    fresh = as_district(new["bootstrap.servers"], A, new["sasl.password"])
    assert len(read_as(fresh, a_enterprise, group)) >= 1

    # The audit topic holds every one of these events.
    def audited() -> list[dict[str, Any]]:
        return [e for e in read_audit(settings, since=started) if e["subject"] == A]

    def with_the_revoked_withholding() -> list[dict[str, Any]]:
        events = audited()
        revoked = (
            e["detail"].get("reason") == "demand_revoked" for e in events if e["action"] == "policy.withhold"
        )
        return events if any(revoked) else []

    events = wait_until(
        with_the_revoked_withholding,
        40,
        "records withheld after the revocation, audited",
        interval=2.0,
        last=audited,
    )
    actions = {(e["action"], e["target"]) for e in events}
    assert ("credential.create", f"User:{A}") in actions
    assert ("credential.rotate", f"User:{A}") in actions
    assert ("acl.grant", a_prefix) in actions
    withheld = [
        e
        for e in events
        if e["action"] == "policy.withhold" and e["target"] == f"{realestate.department}.certificate"
    ]
    assert any(e["detail"]["reason"] == "demand_revoked" and e["count"] >= 1 for e in withheld), events
    assert all(e["at"].endswith("+00:00") and e["actor"].startswith("User:") for e in events)
    withholdings = [e for e in withheld if e["detail"]["reason"] == "demand_revoked"]
    assert published.version in {e["catalog_version"] for e in withholdings}, withholdings
    assert client["sasl.password"] not in json.dumps(events) and new["sasl.password"] not in json.dumps(
        events
    )
