"""The tamper-evident audit trail on the real broker: writers in several processes' worth of
producers take turns and keep one chain; `sharebus audit verify` passes it, and names the first
broken link (exit 18) when the admin appends a forged record, deletes the oldest records, rewrites
the topic with one record altered or removed, or rewrites it with every hash recomputed (caught
by the anchor an earlier verify printed)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition

from sharebus.core.audit import ACL_GRANT, AuditLog, ensure_audit_topic, event, read_audit, verify_audit
from sharebus.core.audit_chain import HASH, PREV, SEQ, START, link
from sharebus.core.errors import ExitCode
from sharebus.core.kafka_clients import Role, admin_client, kafka_config, producer_config
from sharebus.core.settings import Settings
from sharebus.testing.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def audit_settings(stack_settings: Settings, unique: Callable[[str], str]) -> Iterator[Settings]:
    """The stack's settings with an audit topic of this test's own (deleted afterwards)."""
    settings = stack_settings.model_copy(update={"audit_topic": unique("test.audit")})
    yield settings
    admin = admin_client(kafka_config(settings))
    for future in admin.delete_topics([settings.audit_topic]).values():
        with contextlib.suppress(KafkaException):  # the test removed it itself
            future.result(timeout=30)


def write(settings: Settings, subjects: list[str]) -> None:
    AuditLog(settings).write([event(settings, ACL_GRANT, s, "topic", catalog_version="v1") for s in subjects])


def records(settings: Settings) -> list[dict[str, Any]]:
    return read_audit(settings)


def rewrite(settings: Settings, values: list[bytes]) -> None:
    """What the super user can do: delete the topic and write it again with other contents."""
    admin = admin_client(kafka_config(settings))
    admin.delete_topics([settings.audit_topic])[settings.audit_topic].result(timeout=30)
    wait_until(
        lambda: settings.audit_topic not in admin.list_topics(timeout=10).topics,
        30,
        "the audit topic deleted",
    )
    ensure_audit_topic(settings)
    failed: list[object] = []
    producer = Producer(producer_config(settings, Role.ADMIN, {}))
    for value in values:
        producer.produce(
            settings.audit_topic, value, on_delivery=lambda err, _m: failed.append(err) if err else None
        )
    assert producer.flush(30) == 0 and not failed


def verify_cli(sharebus_cli: Callable[..., Any], settings: Settings, *args: str) -> Any:
    return sharebus_cli(
        "audit", "verify", "--json", *args, env={"SHAREBUS_AUDIT_TOPIC": settings.audit_topic}
    )


def test_writers_taking_turns_keep_one_chain(audit_settings: Settings) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        log = AuditLog(audit_settings)  # a producer of its own: each turn fences the others
        try:
            for i in range(4):
                log.write(
                    [
                        event(audit_settings, ACL_GRANT, f"{name}-{i}-{j}", "t", catalog_version=None)
                        for j in range(2)
                    ]
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    report = verify_audit(audit_settings)
    assert report.intact and report.records == 24 and report.unchained == 0
    subjects = [r["subject"] for r in records(audit_settings)]
    assert sorted(subjects) == sorted({f"w{n}-{i}-{j}" for n in range(3) for i in range(4) for j in range(2)})
    assert [r[SEQ] for r in records(audit_settings)] == list(range(24))


def test_verify_passes_an_intact_chain_and_names_a_forged_append(
    audit_settings: Settings, sharebus_cli: Callable[..., Any]
) -> None:
    write(audit_settings, ["500101", "500102"])
    write(audit_settings, ["500103"])
    ok = verify_cli(sharebus_cli, audit_settings)
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["records"] == 3
    forged = {k: v for k, v in records(audit_settings)[0].items() if k not in (SEQ, PREV, HASH)}
    producer = Producer(producer_config(audit_settings, Role.ADMIN, {}))
    producer.produce(audit_settings.audit_topic, orjson.dumps({**forged, "subject": "500199"}))
    assert producer.flush(30) == 0
    bad = verify_cli(sharebus_cli, audit_settings)
    assert bad.exit_code == ExitCode.TAMPERED
    error = json.loads(bad.stdout)
    assert "inserted" in error["problem"] and "offset" in error["subject"]
    assert "3 records chained intact" in error["actual"]


def test_verify_names_the_oldest_records_deleted(
    audit_settings: Settings, sharebus_cli: Callable[..., Any]
) -> None:
    write(audit_settings, ["500101", "500102", "500103"])
    admin = admin_client(kafka_config(audit_settings))
    tp = TopicPartition(audit_settings.audit_topic, 0, 2)
    admin.delete_records([tp])[tp].result(timeout=30)
    bad = verify_cli(sharebus_cli, audit_settings)
    assert bad.exit_code == ExitCode.TAMPERED
    assert "offsets 0–1 were deleted" in json.loads(bad.stdout)["problem"]


@pytest.mark.parametrize("tamper", ["alter", "remove"])
def test_verify_names_a_record_altered_or_removed_in_a_rewritten_topic(
    audit_settings: Settings, sharebus_cli: Callable[..., Any], tamper: str
) -> None:
    write(audit_settings, ["500101", "500102", "500103", "500104"])
    kept = records(audit_settings)
    if tamper == "alter":
        kept[1] = {**kept[1], "count": 0}
    else:
        del kept[1]
    rewrite(audit_settings, [orjson.dumps(r) for r in kept])
    bad = verify_cli(sharebus_cli, audit_settings)
    assert bad.exit_code == ExitCode.TAMPERED
    error = json.loads(bad.stdout)
    if tamper == "alter":
        assert "altered" in error["problem"] and "(seq 1)" in error["subject"]
    else:
        assert "records 1–1 are missing" in error["problem"] and "(seq 2)" in error["subject"]


def test_the_anchor_catches_a_rewrite_with_every_hash_recomputed(
    audit_settings: Settings, sharebus_cli: Callable[..., Any]
) -> None:
    write(audit_settings, ["500101", "500102", "500103"])
    ok = verify_cli(sharebus_cli, audit_settings)
    anchor = json.loads(ok.stdout)["head"]
    assert anchor.startswith("2:")
    forged, tail = [], START
    for r in records(audit_settings):
        body = {k: v for k, v in r.items() if k not in (SEQ, PREV, HASH)}
        record, tail = link({**body, "count": 0}, tail)
        forged.append(orjson.dumps(record))
    rewrite(audit_settings, forged)
    assert verify_cli(sharebus_cli, audit_settings).exit_code == 0  # consistent: only the anchor tells
    bad = verify_cli(sharebus_cli, audit_settings, "--anchor", anchor)
    assert bad.exit_code == ExitCode.TAMPERED
    assert "rewritten" in json.loads(bad.stdout)["problem"]
    wrong = verify_cli(sharebus_cli, audit_settings, "--anchor", "2:xyz")
    assert wrong.exit_code == ExitCode.CONFIG
