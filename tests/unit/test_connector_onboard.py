"""Onboarding orchestration with fake Connect, database and Kafka: dry runs change nothing, a
changed config needs --yes, invalid configs stop before anything is created, and a failure after
the connector exists rolls back everything, newest first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.client import ConnectorState, TaskState
from connectors.dburl import DbTarget
from connectors.errors import ChangePendingError
from connectors.onboard import Onboarding, OnboardRequest
from connectors.preflight import Preflight, Step, ok
from connectors.render import CaptureSpec, render
from connectors.source import Column
from sharebus.core.errors import ConfigError, ConnectorError
from sharebus.core.settings import Settings

TARGET = DbTarget("postgres", "h", 5432, "owner", "db", "pw-123")
RUNNING = ConnectorState("cdc-dept", "RUNNING", (TaskState(0, "RUNNING"),))


class FakeClient:
    def __init__(
        self,
        log: list[str],
        *,
        current: dict[str, str] | None = None,
        fail_wait: bool = False,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        self.log, self.current, self.fail_wait, self.errors = log, current, fail_wait, errors or {}

    def plugins(self) -> list[dict[str, Any]]:
        return [{"class": "io.debezium.connector.postgresql.PostgresConnector"}]

    def config(self, name: str) -> dict[str, str] | None:
        return self.current

    def validate(self, cls: str, config: dict[str, str]) -> dict[str, list[str]]:
        self.log.append("validate")
        return self.errors

    def put_config(self, name: str, config: dict[str, str]) -> bool:
        self.log.append(f"put {name}")
        return True

    def wait_running(self, name: str, **kw: Any) -> ConnectorState:
        if self.fail_wait:
            raise ConnectorError(f"connector {name}", "failed", fix="…")
        return RUNNING

    def purge(self, name: str) -> bool:
        self.log.append(f"purge {name}")
        return True


class FakeSource:
    def __init__(self, log: list[str]) -> None:
        self.log, self.target = log, TARGET

    def columns(self, tables: tuple[str, ...]) -> dict[str, tuple[Column, ...]]:
        return {t: (Column("id", "int8", False, True), Column("name", "text", True, False)) for t in tables}

    def preflight(self, spec: CaptureSpec, **kw: bool) -> Preflight:
        def record(what: str) -> Any:
            return lambda: self.log.append(what)

        return Preflight(
            "db",
            [ok("wal_level", "logical", "logical")],
            [
                Step("create bus tables", record("do bus"), record("undo bus")),
                Step("create publication", record("do publication"), record("undo publication")),
                Step("slot", None, record("undo slot")),
            ],
        )


class FakeTopics:
    def __init__(self, log: list[str]) -> None:
        self.log, self.calls = log, 0

    def of(self, spec: CaptureSpec) -> set[str]:
        self.calls += 1
        return set() if self.calls == 1 else {"cdc.dept.public.t"}

    def delete(self, topics: set[str]) -> list[str]:
        self.log.append(f"delete {sorted(topics)}")
        return sorted(topics)


def onboarding(tmp_path: Path, log: list[str], client: FakeClient, **req: Any) -> Onboarding:
    settings = Settings(connect_secrets_dir=tmp_path)  # type: ignore[call-arg]
    request = OnboardRequest(
        department="dept", target=TARGET, tables=("t",), catalog=False, snapshot_timeout=0, **req
    )
    return Onboarding(
        settings,
        request,
        log.append,
        source=FakeSource(log),
        client=client,  # type: ignore[arg-type]
        topics=FakeTopics(log),
    )  # type: ignore[arg-type]


def test_created_connector_failing_rolls_everything_back_newest_first(tmp_path: Path) -> None:
    log: list[str] = []
    with pytest.raises(ConnectorError) as info:
        onboarding(tmp_path, log, FakeClient(log, fail_wait=True)).run()
    actions = [line for line in log if not line.startswith(("  ", "preflight", "validating"))]
    assert actions == [
        "validate",
        "do bus",
        "do publication",
        "put cdc-dept",
        "purge cdc-dept",
        "delete ['cdc.dept.public.t']",
        "undo slot",
        "undo publication",
        "undo bus",
    ]
    assert not (tmp_path / "cdc-dept.db-password").exists()
    assert not (tmp_path / "cdc-dept.db-target").exists()  # the record of where to log in goes too
    assert "rolled back: connector cdc-dept" in (info.value.details or "")
    assert "pw-123" not in info.value.render()


def test_success_writes_the_secret_and_reports_running(tmp_path: Path) -> None:
    log: list[str] = []
    result = onboarding(tmp_path, log, FakeClient(log)).run()
    assert result.action == "created" and result.state is RUNNING
    assert (tmp_path / "cdc-dept.db-password").read_text() == "pw-123"
    assert (tmp_path / "cdc-dept.db-password").stat().st_mode & 0o777 == 0o600
    assert "pw-123" not in str(result.to_dict())
    # the validation secret is gone; where the bus may log in is recorded beside the password
    assert sorted(tmp_path.iterdir()) == [tmp_path / "cdc-dept.db-password", tmp_path / "cdc-dept.db-target"]


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    log: list[str] = []
    result = onboarding(tmp_path, log, FakeClient(log), dry_run=True).run()
    assert result.action == "would create"
    assert result.steps == ["create bus tables", "create publication", "create connector cdc-dept"]
    assert not any(line.startswith(("do ", "put ")) for line in log) and not list(tmp_path.iterdir())


def test_a_different_config_needs_yes_and_unchanged_is_a_no_op(tmp_path: Path) -> None:
    log: list[str] = []
    ob = onboarding(tmp_path, log, FakeClient(log))
    spec, *_ = ob.plan()
    current = {**render(spec, ob.settings), "snapshot.mode": "no_data", "name": "cdc-dept"}
    with pytest.raises(ChangePendingError) as info:
        onboarding(tmp_path, log, FakeClient(log, current=current)).run()
    assert info.value.exit_code == 9 and "snapshot.mode: no_data -> initial" in (info.value.details or "")
    assert not any(line.startswith(("do ", "put ")) for line in log)
    same = {**render(spec, ob.settings), "name": "cdc-dept"}
    result = onboarding(tmp_path, log, FakeClient(log, current=same)).run()
    assert result.action == "unchanged" and not any(line.startswith("put ") for line in log)


def test_connect_validation_errors_stop_before_anything_is_created(tmp_path: Path) -> None:
    log: list[str] = []
    client = FakeClient(log, errors={"snapshot.mode": ["Value must be one of initial, no_data"]})
    with pytest.raises(ConnectorError) as info:
        onboarding(tmp_path, log, client, snapshot_mode="bogus").run()
    assert info.value.exit_code == 7 and "snapshot.mode: Value must be one of" in (info.value.details or "")
    assert not any(line.startswith(("do ", "put ")) for line in log) and not list(tmp_path.iterdir())


def test_another_database_under_the_same_name_is_refused(tmp_path: Path) -> None:
    log: list[str] = []
    ob = onboarding(tmp_path, log, FakeClient(log))
    spec, *_ = ob.plan()
    elsewhere = {**render(spec, ob.settings), "database.hostname": "other-host"}
    with pytest.raises(ConnectorError, match="already captures another database"):
        onboarding(tmp_path, log, FakeClient(log, current=elsewhere)).run()


@pytest.mark.parametrize("department", ["real_estate", "Dept", "a" * 33, "1x"])
def test_onboarded_department_ids_are_catalog_and_slot_safe(tmp_path: Path, department: str) -> None:
    log: list[str] = []
    ob = onboarding(tmp_path, log, FakeClient(log))
    ob.req = OnboardRequest(department=department, target=TARGET, tables=("t",), catalog=False)
    with pytest.raises(ConfigError, match="valid department id"):
        ob.plan()
