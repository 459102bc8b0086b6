"""A registered connector's config reads back into the spec it was rendered from, and its
password comes from the secrets file Connect reads (else the environment) — only for the
database onboarding recorded, and only from the connector's own secret in the bus's secrets dir:
a config forged through Connect's REST API aims no login and reads no other file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from connectors.registered import record_target, secret_file, spec_of, target_of
from connectors.render import CaptureSpec, render
from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings


@pytest.mark.parametrize(
    "spec",
    [
        CaptureSpec(
            department="market",
            db_name="dept_market",
            tables=("public.enterprise", "public.inspection"),
            db_host="h",
            db_port=25432,
            db_user="cdc",
            snapshot_mode="no_data",
        ),
        CaptureSpec(
            department="hrss",
            db_name="dept_hrss",
            tables=("dept_hrss.social_insurance",),
            db_host="h",
            db_port=23306,
            db_user="cdc",
            kind="mariadb",
        ),
    ],
)
def test_render_then_read_back(spec: CaptureSpec, tmp_path: Path) -> None:
    config = render(spec, Settings(connect_secrets_dir=tmp_path))  # type: ignore[call-arg]
    assert spec_of(spec.connector_name, config) == spec
    path = secret_file(config)
    assert path == tmp_path / spec.password_secret
    record_target(tmp_path, spec)
    with pytest.raises(ConfigError, match="SHAREBUS_DB_PASSWORD"):
        target_of(spec, config, secrets_dir=tmp_path, env={})
    from_env = target_of(spec, config, secrets_dir=tmp_path, env={"SHAREBUS_DB_PASSWORD": "from-env"})
    assert from_env.password == "from-env"
    path.write_text("from-file")
    target = target_of(spec, config, secrets_dir=tmp_path, env={})
    assert (target.kind, target.host, target.dbname, target.password) == (
        spec.kind,
        "h",
        spec.db_name,
        "from-file",
    )


def test_connectors_not_made_by_sharebus_are_named_as_such() -> None:
    with pytest.raises(ConfigError, match="was not onboarded by sharebus"):
        spec_of("other", {"connector.class": "x.Y", "topic.prefix": "other"})


SPEC = CaptureSpec(
    department="market",
    db_name="dept_market",
    tables=("public.enterprise",),
    db_host="h",
    db_port=25432,
    db_user="cdc",
)


def _registered(tmp_path: Path) -> dict[str, str]:
    config = render(SPEC, Settings(connect_secrets_dir=tmp_path))  # type: ignore[call-arg]
    (tmp_path / SPEC.password_secret).write_text("pw")
    record_target(tmp_path, SPEC)
    return config


@pytest.mark.parametrize(
    "forged",
    [
        {"database.hostname": "evil.example"},
        {"database.port": "5433"},
        {"database.user": "postgres"},
        {"database.dbname": "other"},
    ],
)
def test_a_config_aimed_at_another_database_is_refused(tmp_path: Path, forged: dict[str, str]) -> None:
    config = {**_registered(tmp_path), **forged}
    with pytest.raises(ConfigError, match="did not record") as info:
        target_of(spec_of(SPEC.connector_name, config), config, secrets_dir=tmp_path, env={})
    assert "h:25432" in (info.value.expected or "") and info.value.fix


def test_a_config_reading_another_secret_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "pseudonym.key").write_text("the key")
    for ref in (f"${{dir:{outside}:pseudonym.key}}", f"${{dir:{tmp_path}:cdc-hrss.db-password}}"):
        config = {**_registered(tmp_path), "database.password": ref}
        with pytest.raises(ConfigError, match="not its own"):
            target_of(SPEC, config, secrets_dir=tmp_path, env={})


def test_the_password_is_read_from_the_bus_secrets_dir_whatever_dir_the_config_names(tmp_path: Path) -> None:
    config = {
        **_registered(tmp_path),
        "database.password": f"${{dir:/etc/connect/secrets:{SPEC.password_secret}}}",
    }
    assert target_of(SPEC, config, secrets_dir=tmp_path, env={}).password == "pw"


def test_a_connector_without_a_record_is_refused_with_the_fix(tmp_path: Path) -> None:
    config = render(SPEC, Settings(connect_secrets_dir=tmp_path))  # type: ignore[call-arg]
    (tmp_path / SPEC.password_secret).write_text("pw")
    with pytest.raises(ConfigError, match="no record") as info:
        target_of(SPEC, config, secrets_dir=tmp_path, env={"SHAREBUS_DB_PASSWORD": "x"})
    assert "connectors add" in (info.value.fix or "")


def test_the_bus_never_hands_a_department_password_over_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg
    import pymysql

    from connectors import dbconn
    from connectors.dburl import DbTarget

    seen: dict[str, object] = {}
    monkeypatch.setattr(psycopg, "connect", lambda **kw: seen.update(pg=kw["require_auth"]))
    monkeypatch.setattr(pymysql, "connect", lambda **kw: seen.update(maria=kw["auth_plugin_map"]))
    dbconn.pg_open(DbTarget("postgres", "h", 1, "u", "d", "pw"), autocommit=True)
    dbconn.mariadb_connect(DbTarget("mariadb", "h", 1, "u", "d", "pw"))
    assert seen["pg"] == "!password"  # libpq refuses a server asking for the cleartext password
    handlers = seen["maria"]
    assert isinstance(handlers, dict) and set(handlers) == {"mysql_clear_password", "dialog"}
    with pytest.raises(pymysql.err.OperationalError, match="clear text"):
        handlers["mysql_clear_password"](object()).authenticate(b"")


def test_postgresql_is_reached_over_tls_verified_against_the_recorded_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CA travels with the connector's config (`database.sslrootcert`, verify-full): the
    worker's and the CLI's connections to a department verify the server as Debezium does."""
    import psycopg

    from connectors import dbconn
    from connectors.dburl import DbTarget, parse_db_url

    spec = replace(SPEC, db_ca="/etc/bus/ca.pem")
    config = render(spec, Settings(_env_file=None))  # type: ignore[call-arg]
    assert (config["database.sslmode"], config["database.sslrootcert"]) == ("verify-full", "/etc/bus/ca.pem")
    assert spec_of("cdc-market", config).db_ca == "/etc/bus/ca.pem"
    assert "database.sslmode" not in render(SPEC, Settings(_env_file=None))  # type: ignore[call-arg]
    seen: dict[str, object] = {}
    monkeypatch.setattr(psycopg, "connect", lambda **kw: seen.update(kw))
    dbconn.pg_open(DbTarget("postgres", "h", 1, "u", "d", "pw", "/etc/bus/ca.pem"), autocommit=True)
    assert (seen["sslmode"], seen["sslrootcert"]) == ("verify-full", "/etc/bus/ca.pem")
    assert parse_db_url("postgresql://u@h/d?sslrootcert=/x/ca.pem").ca == "/x/ca.pem"
    assert parse_db_url("postgresql://u@h/d").ca is None
