"""Client configs per role from the one settings model: bootstrap, SASL/SCRAM, the right principal."""

from __future__ import annotations

import re
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from pydantic import SecretStr

from sharebus.apps.acl.subscribers import ClientConfig
from sharebus.core.errors import ConfigError
from sharebus.core.kafka_chatter import CHATTER
from sharebus.core.kafka_clients import (
    Replication,
    Role,
    ensure_topics,
    java_client_properties,
    kafka_config,
    partition_offsets,
    principal,
    watermarks,
)
from sharebus.core.settings import Settings


@pytest.fixture
def settings(ca_file: Path) -> Settings:
    return Settings(_env_file=None, kafka_router_password=SecretStr("r-pw"))  # type: ignore[call-arg]


def test_every_role_logs_in_with_scram_by_default(settings: Settings) -> None:
    for role in Role:
        conf = kafka_config(settings, role)
        assert conf["security.protocol"] == "SASL_SSL" and conf["sasl.mechanisms"] == "SCRAM-SHA-512"
        assert conf["bootstrap.servers"] == settings.kafka_bootstrap
        assert conf["ssl.ca.location"] == str(settings.tls_ca)
        assert conf["ssl.endpoint.identification.algorithm"] == "https"
    assert kafka_config(settings, Role.ROUTER)["sasl.username"] == "sharebus-router"
    assert kafka_config(settings, Role.ROUTER)["sasl.password"] == "r-pw"
    assert kafka_config(settings, Role.CONNECT)["sasl.username"] == "sharebus-connect"


def test_district_commands_use_their_own_principal_else_the_admin(settings: Settings) -> None:
    assert principal(settings, Role.CLIENT)[0] == settings.kafka_admin_user
    district = settings.model_copy(update={"kafka_user": "500103", "kafka_password": SecretStr("d")})
    assert kafka_config(district, Role.CLIENT)["sasl.username"] == "500103"
    assert kafka_config(district, Role.ADMIN)["sasl.username"] == settings.kafka_admin_user


def test_plaintext_has_no_security_keys(settings: Settings) -> None:
    plain = settings.model_copy(update={"kafka_security_protocol": "PLAINTEXT"})
    expected = {"bootstrap.servers": settings.kafka_bootstrap, "logger": CHATTER}
    assert kafka_config(plain, Role.ROUTER) == expected
    assert java_client_properties(plain, Role.CONNECT, "${dir:/s:p}") == {}


def test_java_clients_reference_the_password_never_hold_it(settings: Settings) -> None:
    props = java_client_properties(settings, Role.CONNECT, "${dir:/s:kafka-connect-password}", "producer.")
    jaas = props["producer.sasl.jaas.config"]
    assert 'username="sharebus-connect"' in jaas and 'password="${dir:/s:kafka-connect-password}"' in jaas
    assert settings.kafka_connect_password.get_secret_value() not in str(props)


def test_passwords_are_never_in_the_settings_repr(settings: Settings) -> None:
    text = repr(settings) + str(settings.model_dump())
    for secret in (
        settings.kafka_admin_password,
        settings.kafka_router_password,
        settings.kafka_connect_password,
    ):
        assert secret.get_secret_value() not in text


def test_a_client_config_names_the_topics_and_the_group_prefix() -> None:
    config = ClientConfig(
        "500103",
        "kafka:9094",
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "500103",
        "pw",
        ("share.500103.market.enterprise",),
        "500103.",
        "http://registry:8081",
    )
    text = config.properties()
    assert "bootstrap.servers=kafka:9094" in text and "sasl.mechanism=SCRAM-SHA-512" in text
    assert "schema.registry.url=http://registry:8081" in text and "basic.auth.user.info=500103:pw" in text
    assert config.to_dict()["schema.registry.basic.auth.user.info"] == "500103:pw"
    assert "# topic: share.500103.market.enterprise" in text and "500103." in text
    assert config.to_dict()["sasl.password"] == "pw"


class _Admin:
    """Enough of an AdminClient for ensure_topics: what exists, and the create requests made."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.requests: list[list[str]] = []

    def list_topics(self, timeout: float) -> Any:
        return SimpleNamespace(topics={name: None for name in self.existing})

    def create_topics(self, topics: list[Any]) -> dict[str, Any]:
        self.requests.append([t.topic for t in topics])
        self.made = topics
        done: Future[None] = Future()
        done.set_result(None)
        return {t.topic: done for t in topics}


def test_topics_are_created_in_chunks_a_broker_accepts() -> None:
    # One CreateTopics request for 13,314 topics was refused ("Excessively large number of
    # partitions per request") when a 500-resource slice of the city was tried.
    wanted = {f"share.s{i:05d}": (1, {}) for i in range(1203)}
    admin = _Admin({"share.s00000"})
    created = ensure_topics(admin, wanted, Replication(1, 1), chunk=500)  # type: ignore[arg-type]
    assert [len(r) for r in admin.requests] == [500, 500, 202]
    assert len(created) == 1202 and "share.s00000" not in created
    assert ensure_topics(_Admin(set(wanted)), wanted, Replication(1, 1)) == []  # type: ignore[arg-type]


def test_every_topic_the_bus_creates_is_replicated_as_the_settings_say() -> None:
    admin = _Admin(set())
    cluster = Replication.of(Settings(kafka_brokers=3))  # type: ignore[call-arg]
    assert cluster == Replication(3, 2)
    ensure_topics(admin, {"t": (1, {"cleanup.policy": "compact"})}, cluster)  # type: ignore[arg-type]
    (topic,) = admin.made
    assert topic.replication_factor == 3
    assert topic.config == {"cleanup.policy": "compact", "min.insync.replicas": "2"}
    assert Replication.of(Settings()) == Replication(1, 1) and Replication(1, 1).config() == {}


class _JustCreated:
    """A consumer whose partition has no leader for its first `lagging` calls."""

    def __init__(self, lagging: int, code: int = KafkaError.NOT_LEADER_FOR_PARTITION) -> None:
        self.lagging = lagging
        self.code = code
        self.calls = 0

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.calls <= self.lagging:
            raise KafkaException(KafkaError(self.code))
        return (3, 7)


@pytest.mark.parametrize(
    "code",
    [KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError._UNKNOWN_PARTITION],
)
def test_the_watermarks_of_a_just_created_topic_wait_for_its_leader(code: int) -> None:
    consumer: Any = _JustCreated(lagging=2, code=code)
    assert watermarks(consumer, TopicPartition("t", 0), timeout=5) == (3, 7)
    assert consumer.calls == 3


def test_the_watermarks_fail_on_other_errors_and_past_the_timeout() -> None:
    denied: Any = _JustCreated(lagging=1, code=KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        watermarks(denied, TopicPartition("t", 0), timeout=5)
    assert denied.calls == 1
    leaderless: Any = _JustCreated(lagging=10**6)
    with pytest.raises(KafkaException):
        watermarks(leaderless, TopicPartition("t", 0), timeout=0.3)


def test_a_tls_bus_without_its_ca_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    missing = settings.model_copy(update={"tls_ca_file": tmp_path / "nowhere.pem"})
    with pytest.raises(ConfigError, match=r"nowhere\.pem: does not exist") as refused:
        kafka_config(missing, Role.ROUTER)
    assert "SHAREBUS_TLS_CA_FILE" in str(refused.value.fix)
    # An opted-out bus needs none, and says what crosses the network in clear.
    clear = missing.model_copy(update={"kafka_security_protocol": "SASL_PLAINTEXT"})
    assert "ssl.ca.location" not in kafka_config(clear, Role.ROUTER)
    assert "in clear" in (clear.cleartext_warning() or "") and settings.cleartext_warning() is None


def test_java_clients_trust_the_ca_where_they_run(settings: Settings) -> None:
    """Rendered for another process (Connect in its container): the path is not checked here."""
    remote = settings.model_copy(update={"tls_ca_file": Path("/run/sharebus/tls/ca.pem")})
    props = java_client_properties(remote, Role.CONNECT, "${dir:/s:p}", "admin.")
    assert props["admin.ssl.truststore.type"] == "PEM"
    assert props["admin.ssl.truststore.location"] == "/run/sharebus/tls/ca.pem"
    assert props["admin.ssl.endpoint.identification.algorithm"] == "https"


def test_a_tls_client_config_carries_the_ca_for_java_and_librdkafka() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIBdz\nCCAR2g\n-----END CERTIFICATE-----\n"
    registry = "https://registry:8081"
    config = ClientConfig(
        "500103", "kafka:9094", "SASL_SSL", "SCRAM-SHA-512", "500103", "pw", (), "500103.", registry, pem
    )
    assert config.to_dict()["ssl.ca.pem"] == pem
    assert config.to_dict()["ssl.endpoint.identification.algorithm"] == "https"
    # Java's properties: continued lines join into one value, leading blanks dropped (KIP-651 PEM).
    text = config.properties()
    assert "ssl.truststore.type=PEM" in text and "ssl.endpoint.identification.algorithm=https" in text
    joined = re.sub(r"\\\n\s*", "", text)
    value = next(line for line in joined.splitlines() if line.startswith("ssl.truststore.certificates="))
    assert value.split("=", 1)[1].split() == pem.split()
    # The registry's client (Confluent's, Java) verifies it against the same CA.
    assert f"schema.registry.url={registry}" in text and "schema.registry.ssl.truststore.type=PEM" in text


class _OffsetsConsumer:
    """offsets_for_times as librdkafka answers it: one deleted topic fails the whole call."""

    def __init__(
        self, ends: dict[tuple[str, int], int], gone: set[str], fail: KafkaError | None = None
    ) -> None:
        self.ends, self.gone, self.fail = ends, gone, fail
        self.calls: list[int] = []

    def offsets_for_times(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.calls.append(len(partitions))
        if self.fail is not None:
            raise KafkaException(self.fail)
        if any(tp.topic in self.gone for tp in partitions):
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
        assert {tp.offset for tp in partitions} <= {-1, -2}, "ListOffsets' latest/earliest timestamps"
        return [
            TopicPartition(
                tp.topic, tp.partition, self.ends[(tp.topic, tp.partition)] if tp.offset == -1 else 0
            )
            for tp in partitions
        ]


def test_partition_offsets_asks_every_partition_in_one_call() -> None:
    parts = [(f"share.5001{i:02d}.market", p) for i in range(40) for p in range(2)]
    consumer = _OffsetsConsumer({tp: n for n, tp in enumerate(parts)}, set())
    ends, gone = partition_offsets(consumer, parts, 5.0)  # type: ignore[arg-type]
    assert ends == {tp: n for n, tp in enumerate(parts)} and gone == []
    assert consumer.calls == [80]
    starts, _ = partition_offsets(consumer, parts, 5.0, earliest=True)  # type: ignore[arg-type]
    assert set(starts.values()) == {0}
    assert partition_offsets(consumer, [], 5.0) == ({}, [])  # type: ignore[arg-type]
    assert consumer.calls == [80, 80], "nothing asked for no partitions"


def test_partition_offsets_finds_a_deleted_topic_by_halving() -> None:
    parts = [(f"share.5001{i:02d}.market", p) for i in range(64) for p in range(2)]
    doomed = parts[37][0]
    consumer = _OffsetsConsumer({tp: 3 for tp in parts}, {doomed})
    ends, gone = partition_offsets(consumer, parts, 5.0)  # type: ignore[arg-type]
    assert gone == [(doomed, 0), (doomed, 1)]
    assert ends == {tp: 3 for tp in parts if tp[0] != doomed}
    assert len(consumer.calls) <= 2 * 7 + 1, "a few calls (halving 64 topics), not one per topic"


def test_partition_offsets_raises_what_is_not_a_gone_topic() -> None:
    consumer = _OffsetsConsumer({("t", 0): 1}, set(), fail=KafkaError(KafkaError._TIMED_OUT))
    with pytest.raises(KafkaException):
        partition_offsets(consumer, [("t", 0)], 5.0)  # type: ignore[arg-type]
