"""The settings model: env names, derived ports, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sharebus.core.errors import ConfigError, SharebusError
from sharebus.core.kafka_clients import Role, connection
from sharebus.core.settings import Settings, get_settings, setting_env_names


def test_env_prefix_and_derived_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREBUS_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    monkeypatch.setenv("SHAREBUS_CONNECT_URL", "http://127.0.0.1:18083")
    settings = Settings()
    assert settings.kafka_port == 19092
    assert settings.connect_port == 18083


def test_every_setting_is_documented_with_its_env_name() -> None:
    names = setting_env_names()
    for field, info in Settings.model_fields.items():
        assert info.description and info.description.startswith(names[field] + ":"), field


def test_secrets_do_not_appear_in_repr() -> None:
    settings = Settings(pg_password="hunter2-secret")  # type: ignore[arg-type]
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.model_dump())


def test_error_render_names_subject_expected_actual_fix() -> None:
    err = SharebusError("kafka", "port busy", expected="free", actual="taken", fix="stop it")
    assert str(err).splitlines() == [
        "kafka: port busy",
        "  expected: free",
        "  actual:   taken",
        "  fix:      stop it",
    ]


def test_a_default_kafka_password_is_refused_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREBUS_KAFKA_BOOTSTRAP", "kafka.city.gov:9092")
    monkeypatch.setenv("SHAREBUS_KAFKA_ROUTER_PASSWORD", "router-own-secret")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            get_settings()
    finally:
        get_settings.cache_clear()
    text = err.value.render()
    assert "SHAREBUS_KAFKA_ADMIN_PASSWORD, SHAREBUS_KAFKA_CONNECT_PASSWORD" in text
    assert "SHAREBUS_KAFKA_ROUTER_PASSWORD" not in text and "router-own-secret" not in text
    assert "SHAREBUS_ALLOW_DEFAULT_PASSWORDS=true" in text
    monkeypatch.setenv("SHAREBUS_ALLOW_DEFAULT_PASSWORDS", "true")
    Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:9092", "localhost:9092,127.0.0.2:9093", "[::1]:9092"])
def test_default_passwords_are_fine_on_loopback(monkeypatch: pytest.MonkeyPatch, bootstrap: str) -> None:
    monkeypatch.setenv("SHAREBUS_KAFKA_BOOTSTRAP", bootstrap)
    assert Settings(_env_file=None).kafka_bootstrap == bootstrap  # type: ignore[call-arg]


def test_plaintext_needs_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREBUS_KAFKA_BOOTSTRAP", "kafka.city.gov:9092")
    monkeypatch.setenv("SHAREBUS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", {}),
        (
            "fetch.max.bytes=16777216, queued.min.messages = 1000",
            {"fetch.max.bytes": "16777216", "queued.min.messages": "1000"},
        ),
        (
            '{"linger.ms": 20, "socket.nagle.disable": true}',
            {"linger.ms": "20", "socket.nagle.disable": "true"},
        ),
    ],
)
def test_extra_client_properties_read_json_or_pairs(
    monkeypatch: pytest.MonkeyPatch, text: str, parsed: dict[str, str], ca_file: Path
) -> None:
    monkeypatch.setenv("SHAREBUS_KAFKA_CONSUMER_EXTRA", text)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.kafka_consumer_extra == parsed
    conf = connection(settings, Role.ROUTER).consumer({"group.id": "g", "fetch.max.bytes": 1})
    assert conf["group.id"] == "g" and conf["sasl.username"] == settings.kafka_router_user
    assert conf["fetch.max.bytes"] == parsed.get("fetch.max.bytes", 1)


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("SHAREBUS_KAFKA_CONSUMER_EXTRA", "group.id=mine", "may not set group.id"),
        ("SHAREBUS_KAFKA_PRODUCER_EXTRA", "acks=1,linger.ms=5", "may not set acks"),
        ("SHAREBUS_KAFKA_ADMIN_EXTRA", "sasl.password=x", "may not set sasl.password"),
        ("SHAREBUS_KAFKA_PRODUCER_EXTRA", "linger.ms", "is not key=value"),
        ("SHAREBUS_KAFKA_PRODUCER_EXTRA", "{nope", "is not valid JSON"),
    ],
)
def test_extra_client_properties_refuse_identity_and_nonsense(
    monkeypatch: pytest.MonkeyPatch, name: str, text: str, problem: str
) -> None:
    monkeypatch.setenv(name, text)
    with pytest.raises(ValidationError, match=problem):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_local_cluster_finds_each_broker_and_refuses_a_layout_that_cannot_work() -> None:
    three = Settings(kafka_brokers=3)  # type: ignore[call-arg]
    assert three.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292"
    assert three.kafka_public_bootstrap == "127.0.0.1:9094,127.0.0.1:9194,127.0.0.1:9294"
    assert (three.replication_factor, three.min_insync_replicas) == (3, 2)
    listed = Settings(kafka_brokers=3, kafka_bootstrap="127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")  # type: ignore[call-arg]
    assert listed.kafka_bootstrap == "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"
    with pytest.raises(ValidationError, match="lists 2 addresses for SHAREBUS_KAFKA_BROKERS=3"):
        Settings(kafka_brokers=3, kafka_bootstrap="127.0.0.1:1,127.0.0.1:2")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="MIN_INSYNC_REPLICAS=3 exceeds the replication factor 1"):
        Settings(kafka_min_insync_replicas=3)  # type: ignore[call-arg]
    production = Settings(kafka_replication_factor=3)  # type: ignore[call-arg]
    assert (production.replication_factor, production.min_insync_replicas) == (3, 2)
