"""The settings model: env names, derived ports, secrets never shown."""

from __future__ import annotations

import pytest

from sharebus.core.errors import SharebusError
from sharebus.core.settings import Settings, setting_env_names


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
