"""Connector configs rendered from the templates: names, include lists, and no secret inlined."""

from __future__ import annotations

import re

import pytest

from connectors.client import ConnectorState, TaskState, summarise_trace
from connectors.register import config_diff
from connectors.registered import spec_of
from connectors.render import CaptureSpec, render, render_postgres
from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings


def spec(**overrides: object) -> CaptureSpec:
    base: dict[str, object] = dict(
        department="market",
        db_name="dept_market",
        tables=("public.enterprise",),
        db_host="127.0.0.1",
        db_port=25432,
        db_user="sharebus_cdc",
    )
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


def test_mariadb_render_has_history_server_id_and_bus_tables_in_its_database() -> None:
    settings = Settings(kafka_bootstrap="k:9092", allow_default_passwords=True)  # type: ignore[call-arg]
    config = render(spec(kind="mariadb", db_name="hr", tables=("hr.person",), db_port=3306), settings)
    assert config["connector.class"] == "io.debezium.connector.mariadb.MariaDbConnector"
    assert config["database.include.list"] == "hr"
    assert config["table.include.list"] == r"hr\.person,hr\.sharebus_signal,hr\.sharebus_heartbeat"
    assert config["signal.data.collection"] == "hr.sharebus_signal"
    assert config["schema.history.internal.kafka.topic"] == "sharebus.schema-history.market"
    assert config["schema.history.internal.kafka.bootstrap.servers"] == "k:9092"
    assert int(config["database.server.id"]) == spec(kind="mariadb").server_id > 1000
    assert config["database.password"].startswith("${dir:") and "{" not in config["topic.prefix"]
    # The schema history's clients read the protocol at each task start, never a registered one: a
    # config registered before TLS was on would speak plaintext to a TLS listener (and Connect's
    # JVM dies of it, reading a TLS record as a message size).
    for client in ("producer", "consumer"):
        prefix = f"schema.history.internal.{client}."
        assert (
            config[f"{prefix}security.protocol"] == f"${{dir:{settings.secrets_dir}:kafka-security-protocol}}"
        )
        assert config[f"{prefix}ssl.truststore.location"] == str(settings.tls_ca)
    plain = settings.model_copy(update={"kafka_security_protocol": "SASL_PLAINTEXT"})
    assert render(spec(kind="mariadb", db_port=3306), plain) == render(
        spec(kind="mariadb", db_port=3306), settings
    )


def test_notifications_go_to_a_topic_outside_the_raw_namespace() -> None:
    config = render(spec(), Settings())
    assert config["notification.enabled.channels"] == "sink,log"
    assert config["notification.sink.topic.name"] == "sharebus.notifications.market"


def test_columns_excluded_and_masked_at_the_source_and_overrides() -> None:
    captured = spec(
        exclude_columns=("public.enterprise.phone",),
        mask_columns=("public.enterprise.address",),
        overrides=(("snapshot.fetch.size", "2000"),),
    )
    config = render(captured, Settings())
    assert config["column.exclude.list"] == r"public\.enterprise\.phone"
    assert config["column.mask.with.12.chars"] == r"public\.enterprise\.address"
    assert config["snapshot.fetch.size"] == "2000"
    assert "column.exclude.list" not in render(spec(), Settings())


def test_every_captured_table_goes_to_the_connector_s_raw_topic_but_the_bus_tables() -> None:
    config = render_postgres(spec(), Settings())
    assert config["transforms"] == "department"
    assert config["transforms.department.topic.replacement"] == "cdc.market"
    assert config["transforms.department.key.enforce.uniqueness"] == "false"  # keys stay the table's
    routed = re.compile(config["transforms.department.topic.regex"])
    assert routed.fullmatch("cdc.market.public.enterprise") and routed.fullmatch("cdc.market.x.heartbeat")
    for own in ("cdc.market.sharebus.heartbeat", "cdc.market.sharebus.debezium_signal", "cdc.market"):
        assert not routed.fullmatch(own)
    assert not routed.fullmatch("__debezium-heartbeat.cdc.market") and not routed.fullmatch("cdc.marketx.a.b")
    mariadb = render(spec(kind="mariadb", db_name="dept_hrss", tables=("dept_hrss.person",)), Settings())
    maria_routed = re.compile(mariadb["transforms.department.topic.regex"])
    assert maria_routed.fullmatch("cdc.market.dept_hrss.person")
    assert not maria_routed.fullmatch("cdc.market.dept_hrss.sharebus_heartbeat")


@pytest.mark.parametrize(
    "key",
    [
        "database.password",
        "slot.name",
        "topic.prefix",
        "my.password.x",
        "transforms",
        "transforms.x.type",
        "message.key.columns",
    ],
)
def test_overrides_may_not_touch_identity_or_secrets(key: str) -> None:
    with pytest.raises(ConfigError, match="may not be overridden"):
        spec(overrides=((key, "x"),))


def test_excluded_columns_must_belong_to_captured_tables() -> None:
    with pytest.raises(ConfigError, match="does not name a column of a captured table"):
        spec(exclude_columns=("public.other.phone",))


def test_a_table_keyed_by_the_catalog_s_key_renders_and_reads_back() -> None:
    keyed = spec(tables=("public.person", "public.other"), key_columns=(("public.person", ("record_no",)),))
    config = render(keyed, Settings())
    assert config["message.key.columns"] == "public.person:record_no"
    assert "message.key.columns" not in render(spec(), Settings())
    assert spec_of(keyed.connector_name, config).key_columns == keyed.key_columns
    with pytest.raises(ConfigError, match=r"message key of public\.elsewhere"):
        spec(key_columns=(("public.elsewhere", ("id",)),))
