"""Message keys through the real stack: a department table keyed by a resident ID is refused at
onboarding (nothing created); once the catalog declares a record number as its key, onboarding
keys the messages by it (Debezium message.key.columns) and no key or tombstone carries the ID."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer

from connectors.client import ConnectClient
from sharebus.core import naming
from sharebus.core.settings import Settings
from tests.integration.test_onboarding import ops, read_topic

pytestmark = pytest.mark.integration

Cli = Callable[..., Any]
PEOPLE = [
    ("500101199001011234", "SB-0001", "张三", "500101"),
    ("50010219850202567X", "SB-0002", "李四", "500102"),
]


def declare(catalog_dir: Path, dept: str) -> None:
    """What the department writes before onboarding: its entry, keyed by the record number."""
    city = catalog_dir / "chongqing"
    catalog = city / "catalog.yaml"
    text = catalog.read_text(encoding="utf-8")
    text = text.replace("departments:\n", f"departments:\n  - id: {dept}\n    name: 测试社保局\n", 1)
    text += f"""
  - id: {dept}.resident
    title: 参保人员
    department: {dept}
    source: {{connector: cdc.{dept}, table: public.resident}}
    primary_key: [record_no]
    sharing: not_shared
    legal_basis: 测试用途，不共享
    region_field: district_code
    update_frequency: realtime
    fields:
      - {{name: id_number, type: string, grade: sensitive, mask: pseudonym, code: resident_id,
          required: true}}
      - {{name: record_no, type: string, grade: internal, required: true}}
      - {{name: name, type: string, grade: sensitive, mask: name, required: true}}
      - {{name: district_code, type: string, grade: public, code: region, required: true}}
"""
    catalog.write_text(text, encoding="utf-8")
    responsibility = city / "responsibility.yaml"
    responsibility.write_text(
        responsibility.read_text(encoding="utf-8")
        + f"  - resource: {dept}.resident\n    unit: 测试社保局\n    contact: {{name: 测试, phone: 023-1}}\n",
        encoding="utf-8",
    )


def test_a_table_keyed_by_a_resident_id_is_refused_then_keyed_by_the_catalog_s_key(
    stack_settings: Settings,
    sharebus_cli: Cli,
    onboard_db: dict[str, str],
    consumer_factory: Callable[..., Consumer],
    tmp_path: Path,
) -> None:
    dept = onboard_db["dept"]
    with psycopg.connect(onboard_db["owner_dsn"], autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.resident (id_number char(18) PRIMARY KEY, record_no text NOT NULL UNIQUE,"
            " name text NOT NULL, district_code char(6) NOT NULL)"
        )
        conn.execute("ALTER TABLE public.resident REPLICA IDENTITY FULL")
        conn.cursor().executemany(
            "INSERT INTO resident (id_number, record_no, name, district_code) VALUES (%s, %s, %s, %s)", PEOPLE
        )
    args = ("connectors", "add", dept, "--db", onboard_db["url"], "--tables", "resident")
    args += ("--contact", "023-1")

    refused = sharebus_cli(*args)
    assert refused.exit_code == 8, refused.stderr
    assert "message key of public.resident" in refused.stderr
    assert "keyed by id_number (named like a personal identifier)" in refused.stderr
    assert ConnectClient.of(stack_settings).config(f"cdc-{dept}") is None

    declare(tmp_path / "catalog", dept)
    added = sharebus_cli(*args, "--json")
    assert added.exit_code == 0, added.stderr
    report = json.loads(added.stdout)
    (check,) = [c for c in report["checks"] if c["check"] == "message key of public.resident"]
    assert check["status"] == "ok" and "the table's is id_number" in check["found"]
    config = ConnectClient.of(stack_settings).config(f"cdc-{dept}") or {}
    assert config["message.key.columns"] == "public.resident:record_no"

    with psycopg.connect(onboard_db["owner_dsn"], autocommit=True) as conn:
        conn.execute("DELETE FROM resident WHERE record_no = 'SB-0002'")
    pairs = read_topic(
        consumer_factory(),
        stack_settings,
        naming.raw_topic(f"cdc.{dept}"),
        until=lambda ps: ({"record_no": "SB-0002"}, None) in ps and len(ops(ps, "r")) == 2,
    )
    assert {json.dumps(k) for k, _ in pairs} == {'{"record_no": "SB-0001"}', '{"record_no": "SB-0002"}'}
    assert not any(person[0] in json.dumps(k) for k, _ in pairs for person in PEOPLE)
