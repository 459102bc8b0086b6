"""Only the admin's catalog versions rule the workers: the router's principal may not write the
catalog topic, and a version written past the ACLs (by the super user) that the admin's key does
not sign — unsigned, or altered after signing — is refused by a running worker with a security
alert, its policy unchanged; the same content published by the admin applies."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaError, Producer

from sharebus.catalog.load import read_catalog_dir
from sharebus.core.audit import SECURITY_ALERT, read_audit
from sharebus.core.kafka_clients import Role, producer_config
from sharebus.core.settings import Settings
from sharebus.core.signing import signer
from sharebus.testing.waiting import wait_until
from streams.router.live_catalog import catalog_from, encode_texts, publish_catalog, signed_headers
from tests.integration.router_harness import RouterProcess

PHONE_MASKED = "{name: phone, type: string, grade: sensitive, mask: phone,"
PHONE_CLEAR = "{name: phone, type: string, grade: public,"


def produce(
    settings: Settings, role: Role, value: bytes, headers: list[tuple[str, str | bytes | None]]
) -> None:
    """One record on the catalog topic as `role`; raises the delivery error, if any."""
    errors: list[KafkaError] = []
    producer = Producer(producer_config(settings, role, {}))
    producer.produce(
        settings.catalog_topic,
        value,
        settings.city.encode(),
        headers=headers,
        on_delivery=lambda err, _msg: errors.append(err) if err else None,
    )
    assert producer.flush(30) == 0
    if errors:
        raise RuntimeError(errors[0].str())


def test_workers_take_only_catalog_versions_signed_by_the_admin(
    stack_settings: Settings,
    router_factory: Callable[[Path], RouterProcess],
    catalog_factory: Callable[..., Path],
) -> None:
    catalog_dir = catalog_factory()
    router = router_factory(catalog_dir)
    settings = router.settings
    since = datetime.now(UTC)
    texts = read_catalog_dir(catalog_dir / "chongqing")
    assert texts.catalog is not None and PHONE_MASKED in texts.catalog
    forged = dataclasses.replace(texts, catalog=texts.catalog.replace(PHONE_MASKED, PHONE_CLEAR))
    forged_version = catalog_from(forged, "forged").version
    record = encode_texts(forged)

    try:
        produce(settings, Role.ROUTER, record, [])
        raise AssertionError("the router's principal wrote the catalog topic")
    except RuntimeError as exc:
        assert "authoriz" in str(exc).lower(), exc

    produce(settings, Role.ADMIN, record, [])  # the super user, past every ACL: no signature
    wait_until(lambda: "is not signed: refused" in router.log(), 30, "the unsigned version refused")
    genuine = signed_headers(signer(settings), encode_texts(texts))  # the admin's, over other content
    produce(settings, Role.ADMIN, record, genuine)
    wait_until(lambda: "altered after signing" in router.log(), 30, "the altered version refused")
    assert f"policy {forged_version} in force" not in router.log()

    def alerts() -> list[dict[str, object]]:
        return [
            r
            for r in read_audit(stack_settings, since=since)
            if r.get("action") == SECURITY_ALERT and r.get("subject") == "catalog"
        ]

    wait_until(lambda: len(alerts()) >= 2, 30, "two security alerts audited")
    assert {a["detail"]["kind"] for a in alerts()} == {"catalog_signature"}  # type: ignore[index]

    (catalog_dir / "chongqing" / "catalog.yaml").write_text(forged.catalog or "", encoding="utf-8")
    assert publish_catalog(settings).version == forged_version  # the admin's own decision
    wait_until(
        lambda: f"policy {forged_version} in force" in router.log(), 30, "the admin's version in force"
    )
