"""A pseudonym key rotation through the real stack: `pseudonyms map` reads a pseudonymised
field's values from the department's database (as the connector's user) and maps every value's
old pseudonym to the new key's — exactly the pseudonyms each key gives — audited, no clear value
in the table."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from pydantic import SecretStr

from connectors.render import CaptureSpec
from sharebus.apps.pseudonyms import COLUMNS, write_map
from sharebus.core.audit import PSEUDONYM_MAP, read_audit
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from streams.policy.masks import make_pseudonym, pseudonym_key_id
from streams.router.live_catalog import publish_catalog
from tests.integration.router_harness import write_catalog

NEW, OLD = "new-key-" * 4, "old-key-" * 4


def test_the_map_carries_each_old_pseudonym_to_the_new_key_s(
    stack_settings: Settings,
    capture_factory: Callable[..., CaptureSpec],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    realestate = capture_factory("realestate", own_database=True)
    factory = RowFactory.for_settings(stack_settings, seed=5)
    owners = []
    with psycopg.connect(stack_settings.pg_dsn(realestate.db_name), autocommit=True) as conn:
        for seq in range(1, 6):
            row = factory.certificate(seq)
            owners.append(row["owner_id"])
            conn.execute(
                sql.SQL("INSERT INTO certificate ({}) VALUES ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, row)),
                    sql.SQL(", ").join(sql.Placeholder() * len(row)),
                ),
                list(row.values()),
            )
    catalog = write_catalog(tmp_path / "catalog", {"realestate": realestate.department})
    settings = stack_settings.model_copy(
        update={
            "catalog_dir": catalog,
            "catalog_topic": unique("catalog"),
            "pseudonym_key": SecretStr(NEW),
            "pseudonym_previous_keys": SecretStr(OLD),
        }
    )
    publish_catalog(settings)
    since = datetime.now(UTC)
    resource = f"{realestate.department}.certificate"

    out = io.StringIO()
    summary = write_map(settings, resource, "owner_id", out, lambda _: None)

    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(lines[0]) == COLUMNS and summary.rows == summary.lines == len(lines) == 5
    old, new = make_pseudonym(OLD.encode()), make_pseudonym(NEW.encode())
    assert {(r["old_pseudonym"], r["new_pseudonym"]) for r in lines} == {(old(o), new(o)) for o in owners}
    assert {(r["old_key_id"], r["new_key_id"]) for r in lines} == {
        (pseudonym_key_id(OLD.encode()), pseudonym_key_id(NEW.encode()))
    }
    assert not any(o in out.getvalue() for o in owners)
    (audited,) = [r for r in read_audit(settings, since=since) if r.get("action") == PSEUDONYM_MAP]
    assert audited["subject"] == f"{resource}.owner_id" and audited["detail"]["rows"] == 5
