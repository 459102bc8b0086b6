"""The second database kind: the stack's private MariaDB (ROW binlog), the `hrss` sample
department on it, onboarding through Debezium's MariaDB connector (snapshot, changes, resnapshot,
no-op re-add, removal) and MariaDB's own preflight failures."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from connectors.client import ConnectClient
from connectors.registered import write_truststore
from connectors.render import render
from sharebus.core import naming
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.keys import write_secret
from sharebus.core.settings import Settings
from sharebus.dev.samples import hrss
from sharebus.dev.samples.connectors import hrss_spec
from sharebus.dev.stack.manager import LocalStack
from sharebus.dev.stack.tls import Authority
from tests.integration.test_onboarding import ops, read_topic

pytestmark = pytest.mark.integration

Cli = Callable[..., Any]


@pytest.fixture(scope="module")
def hrss_db(stack_settings: Settings) -> Settings:
    hrss.apply_schema(stack_settings)
    hrss.seed(stack_settings, 60, seed=uuid.uuid4().int % 10_000)
    return stack_settings


def admin_rows(settings: Settings, query: str, *args: object) -> list[tuple[Any, ...]]:
    with hrss.admin(settings, hrss.HRSS.database) as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


@pytest.fixture
def mariadb_dept(stack_settings: Settings, unique: Callable[[str], str]) -> Iterator[str]:
    """A department id for one test; its connector, offsets, topics and secret go afterwards."""
    dept = "mdb" + unique("x").split("_")[1]
    yield dept
    client = ConnectClient.of(stack_settings)
    if client.config(f"cdc-{dept}") is not None:
        client.purge(f"cdc-{dept}")
    admin = admin_client(kafka_config(stack_settings))
    leftovers = [t for t in admin.list_topics(timeout=10).topics if f".{dept}" in t]
    if leftovers:
        for future in admin.delete_topics(leftovers).values():
            future.result(timeout=30)
    (stack_settings.secrets_dir / f"cdc-{dept}.db-password").unlink(missing_ok=True)


def url(settings: Settings, user: str | None = None, password: str | None = None) -> str:
    user = user or settings.mariadb_cdc_user
    password = password or settings.mariadb_cdc_password.get_secret_value()
    return f"mariadb://{user}:{password}@{settings.mariadb_host}:{settings.mariadb_port}/{hrss.HRSS.database}"


def test_the_stack_runs_a_private_mariadb_with_row_binlog(hrss_db: Settings) -> None:
    status = LocalStack(hrss_db).component("mariadb").status()
    assert status.state == "running" and status.port == hrss_db.mariadb_port != 3306
    ((log_bin, fmt, image, port, datadir),) = admin_rows(
        hrss_db, "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@port, @@datadir"
    )
    assert (log_bin, fmt, image, port) == (1, "ROW", "FULL", hrss_db.mariadb_port)
    assert datadir.startswith(str(hrss_db.runtime_dir.resolve()))
    ((count,),) = admin_rows(
        hrss_db, "SELECT count(*) FROM social_insurance WHERE person_id NOT REGEXP '^[0-9]{17}[0-9X]$'"
    )
    assert count == 0


def test_onboarding_a_mariadb_department(
    hrss_db: Settings, sharebus_cli: Cli, mariadb_dept: str, consumer_factory: Callable[..., Consumer]
) -> None:
    settings, dept = hrss_db, mariadb_dept
    ((rows,),) = admin_rows(settings, "SELECT count(*) FROM social_insurance")
    args = (
        "connectors",
        "add",
        dept,
        "--db",
        url(settings),
        "--tables",
        "social_insurance",
        "--name",
        "人力资源和社会保障局",
        "--contact",
        "023-6000000",
    )
    first = sharebus_cli(*args, "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    print(
        f"onboarding {dept} (MariaDB): {report['seconds_to_running']}s to RUNNING,"
        f" snapshot {report['snapshot']['seconds']}s"
    )
    assert (report["kind"], report["action"], report["state"]) == ("mariadb", "created", "RUNNING")
    assert report["snapshot"]["status"] == "COMPLETED"
    assert report["snapshot"]["rows"] == {"dept_hrss.social_insurance": rows}
    assert settings.mariadb_cdc_password.get_secret_value() not in first.stdout + first.stderr

    factory = hrss.InsuranceRows(hrss.RowFactory.for_settings(settings, seed=uuid.uuid4().int % 10_000))
    row = factory.row("500101")
    hrss.insert_rows(settings, [row])
    admin_rows(
        settings,
        "UPDATE social_insurance SET district_code = '500102' WHERE person_id = %s",
        row["person_id"],
    )
    admin_rows(settings, "DELETE FROM social_insurance WHERE person_id = %s", row["person_id"])
    key = {"insurance_no": row["insurance_no"]}  # the catalog's key, not the resident ID
    topic = naming.raw_topic(f"cdc.{dept}")
    pairs = read_topic(
        consumer_factory(), settings, topic, until=lambda ps: (key, None) in ps and len(ops(ps, "r")) >= rows
    )
    mine = [v for k, v in pairs if k == key and v is not None]
    assert [v["op"] for v in mine] == ["c", "u", "d"]
    assert (mine[1]["before"]["district_code"], mine[1]["after"]["district_code"]) == ("500101", "500102")
    assert mine[2]["before"]["name"] == row["name"]  # binlog_row_image=FULL: whole before-image
    assert len(ops(pairs, "r")) == rows

    again = sharebus_cli(*args, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["action"] == "unchanged"

    # The busiest district: a random sample may leave any one fixed district without rows.
    ((district, selected),) = admin_rows(
        settings,
        "SELECT district_code, count(*) AS n FROM social_insurance"
        " GROUP BY district_code ORDER BY n DESC, district_code LIMIT 1",
    )
    assert selected > 0
    snap = sharebus_cli(
        "connectors",
        "resnapshot",
        f"cdc-{dept}",
        "social_insurance",
        "--where",
        f"district_code = '{district}'",
        "--json",
    )
    assert snap.exit_code == 0, snap.stderr
    summary = json.loads(snap.stdout)
    print(f"resnapshot {dept} (MariaDB): {summary['seconds']}s")
    assert summary["rows"] == {"dept_hrss.social_insurance": selected}

    def incremental(ps: list[Any]) -> list[dict[str, Any]]:
        return [v for v in ops(ps, "r") if v["source"]["snapshot"] == "incremental"]

    pairs = read_topic(
        consumer_factory(), settings, topic, until=lambda ps: len(incremental(ps)) >= selected, settle=2.0
    )
    assert len(incremental(pairs)) == selected
    assert {v["after"]["district_code"] for v in incremental(pairs)} == {district}

    status = sharebus_cli("connectors", "status", f"cdc-{dept}", "--json")
    assert status.exit_code == 0
    assert json.loads(status.stdout)["retention"]["kind"] == "binlog"

    removed = sharebus_cli("connectors", "remove", f"cdc-{dept}", "--drop-slot")
    assert removed.exit_code == 0, removed.stderr
    assert f"schema history topic sharebus.schema-history.{dept}" in removed.stdout
    topics = admin_client(kafka_config(settings)).list_topics(timeout=10).topics
    assert f"sharebus.schema-history.{dept}" not in topics
    assert ConnectClient.of(settings).config(f"cdc-{dept}") is None


def test_mariadb_preflight_names_grants_and_keys(
    hrss_db: Settings, sharebus_cli: Cli, mariadb_dept: str
) -> None:
    settings, token = hrss_db, uuid.uuid4().hex[:8]
    user, password, table = f"onbro_{token}", f"pw-{token}", f"nokey_{token}"
    admin_rows(settings, f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", password)
    admin_rows(settings, f"GRANT SELECT ON `dept_hrss`.* TO '{user}'@'127.0.0.1'")
    admin_rows(settings, f"CREATE TABLE `{table}` (a INT, b VARCHAR(10)) ENGINE=InnoDB")
    try:
        result = sharebus_cli(
            "connectors",
            "add",
            mariadb_dept,
            "--db",
            url(settings, user, password),
            "--tables",
            f"social_insurance,{table}",
            "--no-catalog",
            "--json",
        )
        assert result.exit_code == 8
        err = result.stderr
        assert f"replication grants of {user}@127.0.0.1: found missing RELOAD, SHOW DATABASES" in err
        assert (
            f"GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1';"
            in err
        )
        assert f"ALTER TABLE `dept_hrss`.`{table}` ADD PRIMARY KEY" in err
        assert "GRANT SELECT, INSERT ON `dept_hrss`.`sharebus_signal`" in err
        failed = {c["check"] for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"}
        assert "binlog_format" not in failed and "log_bin" not in failed
        assert password not in err + result.stdout
        assert ConnectClient.of(settings).config(f"cdc-{mariadb_dept}") is None
        assert not (settings.secrets_dir / f"cdc-{mariadb_dept}.db-password").exists()
    finally:
        admin_rows(settings, f"DROP USER '{user}'@'127.0.0.1'")
        admin_rows(settings, f"DROP TABLE `{table}`")


def test_debezium_verifies_the_mariadb_server_against_the_ca(
    hrss_db: Settings, mariadb_dept: str, tmp_path: Path
) -> None:
    """Encrypted is not enough: the connector's truststore must hold the CA that signed the
    server's certificate — Connect's validation fails with another CA's, and passes with the bus's."""
    settings, client = hrss_db, ConnectClient.of(hrss_db)
    other = Authority(tmp_path / "other-ca")
    other.ensure_ca(lambda _: None)
    probe = f".probe-{mariadb_dept}"
    write_secret(settings.secrets_dir, probe, settings.mariadb_cdc_password.get_secret_value())
    try:
        results = {}
        for name, ca in (("other", str(other.ca_cert)), ("ours", settings.db_ca)):
            spec = dataclasses.replace(hrss_spec(settings, department=mariadb_dept), db_ca=ca)
            write_truststore(settings.secrets_dir, spec)
            config = {
                **render(spec, settings),
                "name": spec.connector_name,
                "database.password": f"${{dir:{settings.secrets_dir}:{probe}}}",
            }
            results[name] = client.validate(spec.connector_class, config)
    finally:
        (settings.secrets_dir / probe).unlink(missing_ok=True)
        (settings.secrets_dir / naming.db_truststore_secret(mariadb_dept)).unlink(missing_ok=True)
    assert results["ours"] == {}
    refused = " ".join(" ".join(v) for v in results["other"].values())
    assert "database.hostname" in results["other"] and re.search(r"(?i)certif|PKIX|trust", refused), refused
