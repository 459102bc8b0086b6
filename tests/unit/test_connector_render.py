"""Connector configs rendered from the templates: names, include lists, and no secret inlined."""

from __future__ import annotations

import pytest

from connectors.client import ConnectorState, TaskState, summarise_trace
from connectors.register import config_diff
from connectors.render import CaptureSpec, render_postgres
from sharebus.errors import ConfigError
from sharebus.settings import Settings


def spec(**overrides: object) -> CaptureSpec:
    base: dict[str, object] = dict(department="market", db_name="dept_market", tables=("public.enterprise",),
                                   db_host="127.0.0.1", db_port=55432, db_user="sharebus_cdc")  # fmt: skip
    return CaptureSpec(**{**base, **overrides})  # type: ignore[arg-type]


def test_render_fills_every_placeholder_and_never_the_password() -> None:
    settings = Settings(pg_cdc_password="s3cret-value")  # type: ignore[arg-type]
    config = render_postgres(spec(), settings)
    assert all("{" not in v or v.startswith("${dir:") for v in config.values())
    assert "s3cret-value" not in str(config)
    assert config["database.password"] == f"${{dir:{settings.secrets_dir}:cdc-market.db-password}}"
    assert config["topic.prefix"] == "cdc.market"
    assert config["slot.name"] == config["publication.name"] == "sharebus_market"
    assert config["plugin.name"] == "pgoutput"
    assert config["table.include.list"] == (
        r"public\.enterprise,sharebus\.debezium_signal,sharebus\.heartbeat"
    )
    assert config["signal.data.collection"] == "sharebus.debezium_signal"
    assert int(config["heartbeat.interval.ms"]) > 0 and "heartbeat" in config["heartbeat.action.query"]
    assert config["poll.interval.ms"] == str(settings.debezium_poll_interval_ms)


@pytest.mark.parametrize("department", ["Market", "1market", "market-x", "m" * 50, ""])
def test_bad_department_ids_are_rejected_with_the_rule(department: str) -> None:
    with pytest.raises(ConfigError, match="lower-case letters"):
        spec(department=department)


@pytest.mark.parametrize("tables", [(), ("enterprise",), ("public.enterprise; drop",)])
def test_tables_must_be_schema_qualified(tables: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match=r"schema\.table"):
        spec(tables=tables)


def test_config_diff_ignores_name_and_lists_changed_keys() -> None:
    assert config_diff({"name": "x", "a": "1"}, {"a": "1"}) == ()
    assert config_diff({"a": "1", "b": "2"}, {"a": "9", "c": "3"}) == ("a", "b", "c")


def test_trace_summary_keeps_first_line_and_causes() -> None:
    trace = "org.X: top\n\tat a.b(C.java:1)\nCaused by: org.Y: middle\n\tat d\nCaused by: org.Z: root\n"
    assert summarise_trace(trace) == "org.X: top\nCaused by: org.Y: middle\nCaused by: org.Z: root"
    state = ConnectorState("c", "RUNNING", (TaskState(0, "FAILED", trace),))
    assert state.failed and not state.running
    assert state.error_summary() == summarise_trace(trace)
