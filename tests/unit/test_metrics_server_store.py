"""The ClickHouse-server path of the metrics store: what it sends through clickhouse-connect's
`Client` interface (DDL, inserts, queries), checked on a recording fake; then the same store on
a real clickhouse-connect `Client` (its embedded chDB interface: no server runs here), so the
Native-format inserts and server-side parameter binding are exercised for real."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sharebus.core.errors import ConfigError, UnreachableError
from sharebus.core.settings import Settings
from streams.metrics import migrations as mig
from streams.metrics.errors import MetricsError
from streams.metrics.migrations import load_migrations
from streams.metrics.opening import open_store
from streams.metrics.queries import Statement, plan
from streams.metrics.rows import CALL_COLUMNS, POSITION_COLUMNS, CallRow, PositionRow
from streams.metrics.server_store import ServerStore
from streams.metrics.store import parse_url

MINUTE = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)


@dataclass
class FakeResult:
    column_names: Sequence[str]
    result_rows: Sequence[Sequence[Any]]


@dataclass
class FakeClient:
    """Records every call the store makes; `applied` plays the schema_version table."""

    applied: dict[int, str] = field(default_factory=dict)
    fail: Exception | None = None
    commands: list[tuple[str, Any]] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    queries: list[tuple[str, Any]] = field(default_factory=list)
    closed: bool = False

    def command(self, cmd: str, *, parameters: Any = None) -> Any:
        if self.fail:
            raise self.fail
        self.commands.append((cmd, parameters))
        return None

    def query(self, query: str, *, parameters: Any = None) -> FakeResult:
        if self.fail:
            raise self.fail
        self.queries.append((query, parameters))
        if "schema_version" in query:
            return FakeResult(["version", "checksum"], [[v, c] for v, c in self.applied.items()])
        return FakeResult(["k", "records", "q"], [["500101", 5, [1.0, float("nan"), 3.0]]])

    def insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        *,
        column_names: Sequence[str],
        database: str,
        settings: dict[str, Any] | None = None,
    ) -> Any:
        if self.fail:
            raise self.fail
        self.inserts.append(
            {
                "table": table,
                "data": list(data),
                "column_names": list(column_names),
                "database": database,
                "settings": settings,
            }
        )
        return None

    def close(self) -> None:
        self.closed = True


def _row(subscriber: str = "500101", outcome: str = "delivered", records: int = 3) -> CallRow:
    return CallRow(
        MINUTE,
        "market",
        "market.enterprise",
        subscriber,
        "c",
        outcome,
        "shared_unconditional",
        records,
        300,
        (12.5, 40.0),
    )


# --- DDL -------------------------------------------------------------------------------------
def test_apply_ddl_sends_bootstrap_then_every_statement_then_version_rows() -> None:
    client = FakeClient()
    store = ServerStore(client, database="metrics")
    assert store.apply_ddl() == [m.name for m in load_migrations()]
    sent = [cmd for cmd, _ in client.commands]
    assert sent[0] == "CREATE DATABASE IF NOT EXISTS metrics"
    assert sent[1].startswith("CREATE TABLE IF NOT EXISTS metrics.schema_version")
    migrations = mig.load_migrations()
    expected = [mig.render(s, "metrics") for m in migrations for s in m.statements]
    ddl_sent = [c for c in sent[2:] if not c.startswith("INSERT")]
    assert ddl_sent == expected
    assert all("{db}" not in c for c in sent)
    idempotent = (" IF NOT EXISTS ", " IF EXISTS ")
    assert all(any(i in c for i in idempotent) for c in ddl_sent), "every statement is idempotent"
    creates = [
        re.search(r"IF NOT EXISTS (\S+)", c).group(1)  # type: ignore[union-attr]
        for c in ddl_sent
        if c.startswith("CREATE ")
    ]
    assert creates == [
        "metrics.calls",
        "metrics.calls_1m",
        "metrics.calls_1m_mv",
        "metrics.calls_1h",
        "metrics.calls_1h_mv",
        "metrics.calls_1d",
        "metrics.calls_1d_mv",
        "metrics.positions",
        "metrics.audit_events",
        "metrics.quality",
        "metrics.quality_1d",
        "metrics.quality_1d_mv",
        "metrics.quality_1d_mv",  # made again with the consistency sums (005)
    ]
    versions = [(cmd, params) for cmd, params in client.commands if cmd.startswith("INSERT")]
    assert [p for _, p in versions] == [
        {"version": m.version, "name": m.name, "checksum": m.checksum} for m in migrations
    ]
    assert versions[0][0].startswith("INSERT INTO metrics.schema_version (version, name, checksum) SELECT")
    assert client.queries[0][0] == mig.applied_versions_sql("metrics")


def test_applied_versions_are_skipped_and_an_edited_file_is_refused() -> None:
    migrations = mig.load_migrations()
    client = FakeClient(applied={m.version: m.checksum for m in migrations})
    assert ServerStore(client).apply_ddl() == []
    assert len(client.commands) == 2, "only the bootstrap statements"
    edited = FakeClient(applied={1: "0" * 16})
    with pytest.raises(MetricsError) as err:
        ServerStore(edited).apply_ddl()
    assert err.value.subject == "DDL file 001_calls.sql" and "new numbered DDL file" in (err.value.fix or "")


# --- inserts ---------------------------------------------------------------------------------
def test_insert_calls_sends_call_columns_to_the_raw_table_with_a_dedup_token() -> None:
    client = FakeClient()
    store = ServerStore(client, database="metrics")
    rows = [_row(), _row("", "dead_letter", 2)]
    store.insert_calls(rows, token="ab12")
    (sent,) = client.inserts
    assert sent["table"] == "calls" and sent["database"] == "metrics"
    assert sent["column_names"] == list(CALL_COLUMNS)
    assert sent["data"] == rows, "CallRow's fields are in CALL_COLUMNS order"
    assert sent["settings"] == {
        "insert_deduplication_token": "ab12",
        "deduplicate_blocks_in_dependent_materialized_views": 1,
    }
    store.insert_calls(rows)
    token = client.inserts[1]["settings"]["insert_deduplication_token"]
    assert len(token) == 32 and token != "ab12", "a fresh token when none is given"
    store.insert_calls([])
    assert len(client.inserts) == 2, "nothing sent for no rows"


def test_insert_positions_maps_fields_to_columns() -> None:
    client = FakeClient()
    ts = MINUTE + timedelta(seconds=7)
    ServerStore(client).insert_positions(
        [PositionRow(ts, "500101", "share.500101.market.enterprise", 2, 40, 45, "500101.sync")]
    )
    (sent,) = client.inserts
    assert sent["table"] == "positions" and sent["column_names"] == list(POSITION_COLUMNS)
    assert sent["data"] == [(ts, "500101", "500101.sync", "share.500101.market.enterprise", 2, 40, 45)]


def test_a_bad_token_is_refused_before_anything_is_sent() -> None:
    client = FakeClient()
    with pytest.raises(ValueError, match="hex"):
        ServerStore(client).insert_calls([_row()], token="x'; DROP")
    assert client.inserts == []


# --- queries ---------------------------------------------------------------------------------
def test_query_sends_sql_and_parameters_and_returns_plain_dicts() -> None:
    client = FakeClient()
    store = ServerStore(client, database="metrics")
    p = plan(
        "latency",
        {"by": "subscriber", "since": "1h"},
        database=store.database,
        now=datetime(2026, 3, 10, 8, 30, 5, tzinfo=UTC),
    )
    result = p.run(store)
    (sql, params) = client.queries[0]
    assert "metrics.calls_1m" in sql and "{lo0:DateTime('UTC')}" in sql
    assert params == {
        "lo0": "2026-03-10 07:31:00",
        "hi0": "2026-03-10 08:00:00",
        "lo1": "2026-03-10 08:00:00",
        "hi1": "2026-03-10 09:00:00",
    }
    assert result["rows"] == [
        {"subscriber": "500101", "records": 5, "p50_ms": 1.0, "p95_ms": None, "p99_ms": 3.0}
    ]
    rows = store.query("SELECT 1", {"x": 1})
    assert rows == [{"k": "500101", "records": 5, "q": [1.0, None, 3.0]}], "NaN (an empty quantile) → None"
    assert client.queries[-1] == ("SELECT 1", {"x": 1})


def test_client_errors_become_metrics_errors_naming_the_server() -> None:
    store = ServerStore(
        FakeClient(fail=RuntimeError("Code: 60. Unknown table")),
        description="ClickHouse server ch:8123/sharebus",
    )
    for call in (
        lambda: store.query("SELECT 1"),
        lambda: store.command("SELECT 1"),
        lambda: store.insert_calls([_row()]),
    ):
        with pytest.raises(MetricsError) as err:
            call()
        assert err.value.subject == "ClickHouse server ch:8123/sharebus" and "Unknown table" in (
            err.value.actual or ""
        )


# --- URL and connection ----------------------------------------------------------------------
def test_urls() -> None:
    rel = parse_url("chdb:///.runtime/metrics")
    assert rel.embedded and rel.path == Path(".runtime/metrics")
    assert parse_url("chdb:///var/lib/sharebus/metrics").path == Path("/var/lib/sharebus/metrics")
    assert parse_url("chdb:////var/lib/sharebus/metrics").path == Path("/var/lib/sharebus/metrics")
    assert parse_url("chdb:///./data").path == Path("data")
    server = parse_url("clickhouse://sharebus:s%40cret@clickhouse:8123/metrics")
    assert (server.host, server.port, server.database, server.user, server.password) == (
        "clickhouse",
        8123,
        "metrics",
        "sharebus",
        "s@cret",
    )
    plain = parse_url("clickhouse://ch")
    assert (plain.port, plain.database, plain.user, plain.password) == (8123, "sharebus", None, None)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://x/y",
        "chdb://",
        "chdb://relative",
        "clickhouse:///db",
        "clickhouse://u:topsecret@ch:8123/a/b",
        "clickhouse://ch:port/db",
        "clickhouse://ch/bad-name",
    ],
)
def test_bad_urls_name_the_setting_and_both_forms_without_the_password(url: str) -> None:
    with pytest.raises((ConfigError, MetricsError)) as err:
        parse_url(url)
    text = err.value.render()
    assert "topsecret" not in text
    if isinstance(err.value, ConfigError):
        assert err.value.subject == "SHAREBUS_METRICS_URL"
        assert "chdb:///absolute/path" in (err.value.expected or "")
        assert "clickhouse://" in (err.value.expected or "")


def test_open_store_connects_with_settings_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    import clickhouse_connect

    calls: list[dict[str, Any]] = []

    def get_client(**kwargs: Any) -> FakeClient:
        calls.append(kwargs)
        return FakeClient()

    monkeypatch.setattr(clickhouse_connect, "get_client", get_client)
    settings = Settings(metrics_url="clickhouse://ch:18123/metrics", metrics_user="u", metrics_password="p")  # type: ignore[arg-type]
    store = open_store(settings)
    assert isinstance(store, ServerStore) and store.database == "metrics"
    assert calls == [
        {
            "host": "ch",
            "port": 18123,
            "username": "u",
            "password": "p",
            "autogenerate_session_id": False,
            "connect_timeout": 5,
            "send_receive_timeout": 60,
        }
    ]
    with_userinfo = Settings(metrics_url="clickhouse://a:b@ch/metrics")
    open_store(with_userinfo, apply_ddl=False)
    assert (calls[-1]["username"], calls[-1]["password"]) == ("a", "b")


def test_an_unreachable_server_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import clickhouse_connect

    def refuse(**kwargs: Any) -> None:
        raise OSError("Connection refused")

    monkeypatch.setattr(clickhouse_connect, "get_client", refuse)
    with pytest.raises(UnreachableError) as err:
        open_store(Settings(metrics_url="clickhouse://ch:8123/sharebus"))
    assert err.value.subject == "ClickHouse server ch:8123/sharebus"
    assert "SHAREBUS_METRICS_URL" in (err.value.fix or "")


# --- the same store on a real clickhouse-connect Client ----------------------------------------
@pytest.fixture
def real_client_store(tmp_path: Path) -> Iterator[ServerStore]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "cc"))
    store = ServerStore(client, database="metrics")
    try:
        yield store
    finally:
        store.close()  # chDB: one data path per process; the next test opens another


def test_real_client_applies_ddl_inserts_and_queries(real_client_store: ServerStore) -> None:
    store = real_client_store
    assert store.apply_ddl() == [m.name for m in load_migrations()]
    assert store.apply_ddl() == []
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    rows = [
        CallRow(
            minute,
            "market",
            "market.enterprise",
            "500101",
            "c",
            "delivered",
            "shared_unconditional",
            4,
            400,
            (10.0, 20.0),
        ),
        CallRow(minute, "market", "market.enterprise", "", "c", "dead_letter", "check_usci", 1, 80),
        CallRow(minute, "market", "market.enterprise", "liangjiang", "u", "withheld", "demand_revoked", 2, 0),
    ]
    store.insert_calls(rows, token="c0ffee")
    store.insert_calls(rows, token="c0ffee")  # a retry: stored and rolled up once
    store.insert_positions(
        [PositionRow(now, "500101", "share.500101.market.enterprise", 0, 3, 7, "500101.sync")]
    )
    report = plan("calls", {"by": "subscriber", "since": "1h"}, database="metrics", now=now).run(store)
    assert report["totals"] == {"delivered": 4, "bytes": 400, "withheld": 2, "dead_letter": 1}
    # The same rows as the embedded store gives (tests/integration/test_metrics_chdb.py): str keys,
    # int counts, every outcome in the reasons.
    nothing: dict[str, dict[str, int]] = {"delivered": {}, "withheld": {}, "dead_letter": {}}
    assert report["rows"] == [
        {
            "subscriber": "500101",
            "delivered": 4,
            "bytes": 400,
            "withheld": 0,
            "dead_letter": 0,
            "reasons": {**nothing, "delivered": {"shared_unconditional": 4}},
        },
        {
            "subscriber": "liangjiang",
            "delivered": 0,
            "bytes": 0,
            "withheld": 2,
            "dead_letter": 0,
            "reasons": {**nothing, "withheld": {"demand_revoked": 2}},
        },
        {
            "subscriber": "",
            "delivered": 0,
            "bytes": 0,
            "withheld": 0,
            "dead_letter": 1,
            "reasons": {**nothing, "dead_letter": {"check_usci": 1}},
        },
    ]
    lag = plan("lag", {}, database="metrics", now=now).run(store)
    assert lag["rows"][0]["lag"] == 4
    latency = plan("latency", {}, database="metrics", now=now).run(store)
    assert latency["rows"][0]["records"] == 4 and latency["rows"][0]["p99_ms"] == 20.0
    # Every query through clickhouse-connect's binding: Date and DateTime parameters, the district
    # filter's regex, the summary's follow-up statement with String parameters.
    districts = plan("calls", {"by": "district", "since": "30d"}, database="metrics", now=now).run(store)
    assert [r["district"] for r in districts["rows"]] == ["500101"]
    summary = plan("summary", {}, database="metrics", now=now).run(store)
    assert summary["top_resources"][0]["subscribers"] == 1 and summary["today"]["calls"] == 4
    reasons = plan("reasons", {"by": "subscriber"}, database="metrics", now=now).run(store)
    assert reasons["by_reason"] == {"withheld": {"demand_revoked": 2}, "dead_letter": {"check_usci": 1}}


def test_real_client_sums_through_a_signed_cover(real_client_store: ServerStore) -> None:
    # The same SQL as on embedded chDB (Int64 sums, a subtracted slice, HAVING): at 00:01 a day
    # of calls is yesterday's and today's day rows less two minutes of yesterday's minute rows.
    store = real_client_store
    store.apply_ddl()
    now = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=1, second=30, microsecond=0)
    minute = now.replace(second=0, microsecond=0)
    rows = [
        CallRow(
            minute - timedelta(minutes=m),
            "market",
            f"market.r{m % 3}",
            ("500101", "")[m % 2],
            "c",
            ("delivered", "withheld")[m % 5 == 0],
            f"r{m % 4}",
            1 + m % 7,
            10 * (m % 7),
        )
        for m in range(0, 26 * 60, 13)
    ]
    store.insert_calls(rows)
    p = plan("calls", {"by": "resource", "since": "24h"}, database="metrics", now=now)
    statement = p.statements["calls"]
    assert isinstance(statement, Statement) and "-toInt64(sum(records))" in statement.sql
    report = p.run(store)
    since = now.replace(second=0, microsecond=0) + timedelta(minutes=1) - timedelta(days=1)
    inside = [r for r in rows if r.minute >= since]
    assert len(inside) < len(rows), "rows before the window are there to be subtracted"
    assert report["totals"]["delivered"] == sum(r.records for r in inside if r.outcome == "delivered")
    assert report["totals"]["withheld"] == sum(r.records for r in inside if r.outcome == "withheld")
    assert report["totals"]["bytes"] == sum(r.bytes for r in inside if r.outcome == "delivered")
    for row in report["rows"]:
        mine = [r for r in inside if r.resource == row["resource"]]
        assert row["reasons"]["delivered"] == {
            why: sum(r.records for r in mine if (r.outcome, r.reason) == ("delivered", why))
            for why in {r.reason for r in mine if r.outcome == "delivered"}
        }
