"""The versioned DDL of the metrics store: how files are split, ordered and checksummed, and how
they are applied once each, in order, refusing edited history."""

from __future__ import annotations

import pytest

from streams.metrics import migrations as m
from streams.metrics.errors import MetricsError


def test_statements_split_at_line_ending_semicolons_and_drop_comment_lines() -> None:
    text = "-- header; with a semicolon\nCREATE TABLE {db}.a\n(\n    x UInt8 -- inline\n);\n\n-- c\n"
    text += "SELECT 1;\nSELECT 2"
    assert m.split_statements(text) == (
        "CREATE TABLE {db}.a\n(\n    x UInt8 -- inline\n)",
        "SELECT 1",
        "SELECT 2",
    )


def test_migrations_are_ordered_by_version_and_checksummed_over_statements_only() -> None:
    loaded = m.load_migrations({"010_b.sql": "SELECT 10;", "002_a.sql": "-- a\nSELECT 2;"})
    assert [(x.version, x.name) for x in loaded] == [(2, "002_a.sql"), (10, "010_b.sql")]
    again = m.load_migrations({"002_a.sql": "-- another comment\n\nSELECT 2;"})
    assert again[0].checksum == loaded[0].checksum, "a comment edit is no schema change"
    assert m.load_migrations({"002_a.sql": "SELECT 3;"})[0].checksum != loaded[0].checksum


@pytest.mark.parametrize("files", [{"1_a.sql": ""}, {"001-a.sql": ""}, {"001_a.sql": "", "001_b.sql": ""}])
def test_misnamed_or_duplicate_files_are_refused(files: dict[str, str]) -> None:
    with pytest.raises(MetricsError):
        m.load_migrations(files)


def test_the_packaged_files() -> None:
    names = [x.name for x in m.load_migrations()]
    assert names == [
        "001_calls.sql",
        "002_positions.sql",
        "003_audit.sql",
        "004_quality.sql",
        "005_consistency.sql",
    ]
    for migration in m.load_migrations():
        for statement in migration.statements:
            idempotent = (" IF NOT EXISTS ", " IF EXISTS {db}.")  # every file may be applied again
            assert statement.startswith(("CREATE ", "ALTER ", "DROP ")) and any(
                i in statement for i in idempotent
            )


def test_render_checks_the_database_name() -> None:
    assert m.render("SELECT * FROM {db}.calls", "metrics_2") == "SELECT * FROM metrics_2.calls"
    for bad in ("", "1db", "db; DROP TABLE x", "a.b", "x" * 64):
        with pytest.raises(MetricsError):
            m.render("SELECT 1", bad)


def test_apply_runs_new_files_in_order_and_skips_applied_ones() -> None:
    files = m.load_migrations(
        {"001_a.sql": "CREATE TABLE {db}.a (x UInt8);", "002_b.sql": "CREATE TABLE {db}.b;"}
    )
    sent: list[str] = []
    recorded: list[int] = []
    done = {1: files[0].checksum}
    applied = m.apply_migrations(
        "db",
        command=sent.append,
        applied=lambda: done,
        record=lambda x: recorded.append(x.version),
        migrations=files,
    )
    assert applied == ["002_b.sql"] and recorded == [2]
    assert sent[:2] == list(m.bootstrap_statements("db")) and sent[2:] == ["CREATE TABLE db.b"]


def test_apply_refuses_a_file_changed_after_it_was_applied() -> None:
    files = m.load_migrations({"001_a.sql": "CREATE TABLE {db}.a (x UInt16);"})
    with pytest.raises(MetricsError) as err:
        m.apply_migrations(
            "db",
            command=lambda s: None,
            applied=lambda: {1: "feedfacefeedface"},
            record=lambda x: None,
            migrations=files,
        )
    assert err.value.expected == "checksum feedfacefeedface (as applied)"
