"""`connectors add`: onboard a department database in one go — preflight, render, validate,
register, wait RUNNING, follow the snapshot, draft catalog entries — and roll back everything it
created (publication, slot, bus tables, secret, connector, topics) when a later step fails."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from connectors.client import ConnectClient, ConnectorState
from connectors.dburl import DbTarget, redact
from connectors.draft_catalog import (
    Contact,
    DraftPlan,
    draft_summary,
    load_city_catalog,
    plan_drafts,
    secret_columns,
)
from connectors.errors import ChangePendingError, OnboardError
from connectors.message_keys import plan_keys
from connectors.preflight import OK, Check, Preflight, fail, ok
from connectors.registered import record_target, write_truststore
from connectors.render import MARIADB, POSTGRES, CaptureSpec, render
from connectors.snapshot import INITIAL, NotificationReader, SnapshotSummary, follow
from connectors.source import Column, Source
from connectors.sources import open_source
from connectors.topics import KafkaTopics
from sharebus.catalog.models import Catalog
from sharebus.core import naming
from sharebus.core.errors import ConfigError, ConnectorError, SharebusError
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.keys import write_secret
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

# `add` ids must also be catalog department ids (no '_') and slot names (no '-').
_ADD_DEPARTMENT = re.compile(r"^[a-z][a-z0-9]{0,31}$")
# Config keys that say which database a connector captures: changing them is not an update.
_IDENTITY_KEYS = (
    "connector.class",
    "database.hostname",
    "database.port",
    "database.dbname",
    "database.include.list",
)
_NO_SNAPSHOT = ("no_data", "never", "configuration_based")


@dataclass(frozen=True)
class OnboardRequest:
    """Everything `sharebus connectors add` was asked to do."""

    department: str
    target: DbTarget  # with its password
    tables: tuple[str, ...]
    snapshot_mode: str = "initial"
    exclude_columns: tuple[str, ...] = ()
    mask_columns: tuple[str, ...] = ()
    overrides: tuple[tuple[str, str], ...] = ()
    department_name: str | None = None
    contact: Contact | None = None
    catalog: bool = True
    dry_run: bool = False
    confirm: bool = False
    timeout: float = 120.0
    snapshot_timeout: float = 300.0


@dataclass(frozen=True)
class ConfigChange:
    key: str
    old: str | None
    new: str | None

    def render(self) -> str:
        return f"  {self.key}: {self.old if self.old is not None else '(unset)'} -> " + (
            self.new if self.new is not None else "(unset)"
        )


@dataclass
class OnboardResult:
    """What `add` found and did (or, with --dry-run, would do)."""

    connector: str
    kind: str
    database: str  # the URL without password
    action: str  # created | updated | unchanged | would create | would update
    checks: list[Check] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)
    diff: list[ConfigChange] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    state: ConnectorState | None = None
    seconds_to_running: float | None = None
    snapshot: SnapshotSummary | None = None
    catalog: DraftPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "kind": self.kind,
            "database": self.database,
            "action": self.action,
            "checks": [c.to_dict() for c in self.checks],
            "config": self.config,
            "diff": [c.__dict__ for c in self.diff],
            "steps": self.steps,
            "state": self.state.state if self.state else None,
            "tasks": [t.state for t in self.state.tasks] if self.state else [],
            "seconds_to_running": None
            if self.seconds_to_running is None
            else round(self.seconds_to_running, 2),
            "snapshot": self.snapshot.to_dict() if self.snapshot else None,
            "catalog": draft_summary(self.catalog) if self.catalog else None,
        }


def qualify(kind: str, dbname: str, tables: tuple[str, ...]) -> tuple[str, ...]:
    """Table names with their schema (PostgreSQL: public) or database (MariaDB) when omitted."""
    default = "public" if kind == POSTGRES else dbname
    return tuple(t if "." in t else f"{default}.{t}" for t in tables)


def build_spec(req: OnboardRequest, excluded: tuple[str, ...] = ()) -> CaptureSpec:
    if not _ADD_DEPARTMENT.match(req.department):
        raise ConfigError(
            f"department {req.department!r}",
            "is not a valid department id for onboarding",
            expected="1–32 lower-case letters and digits, starting with a letter",
            actual=req.department,
            fix="choose an id like `hrss` or `market2` (it names the slot, topics and catalog entries)",
        )
    t = req.target
    tables = qualify(t.kind, t.dbname, req.tables)
    if t.kind == MARIADB and any(tb.split(".")[0] != t.dbname for tb in tables):
        raise ConfigError(
            "--tables",
            "names a table outside the database of --db",
            expected=f"tables of {t.dbname}",
            actual=", ".join(tables),
            fix=f"list tables of {t.dbname}, or onboard the other database separately",
        )
    return CaptureSpec(
        department=req.department,
        db_name=t.dbname,
        tables=tables,
        db_host=t.host,
        db_port=t.port,
        db_user=t.user,
        snapshot_mode=req.snapshot_mode,
        kind=t.kind,
        exclude_columns=tuple(dict.fromkeys((*req.exclude_columns, *excluded))),
        mask_columns=req.mask_columns,
        overrides=req.overrides,
        db_ca=t.ca,
    )


def _tables_missing(pre: Preflight) -> bool:
    """A captured table failed preflight (missing, unreadable): its columns cannot be read."""
    return any(c.failed and c.name.startswith("table ") for c in pre.checks)


def diff_configs(current: dict[str, str] | None, wanted: dict[str, str]) -> list[ConfigChange]:
    if current is None:
        return []
    keys = sorted((set(current) | set(wanted)) - {"name"})
    return [ConfigChange(k, current.get(k), wanted.get(k)) for k in keys if current.get(k) != wanted.get(k)]


class Onboarding:
    """One run of `add`: plan (nothing changes), then apply with rollback."""

    def __init__(
        self,
        settings: Settings,
        req: OnboardRequest,
        echo: Echo,
        *,
        source: Source | None = None,
        client: ConnectClient | None = None,
        topics: KafkaTopics | None = None,
    ) -> None:
        self.settings = settings
        self.req = req
        self.echo = echo
        self.client = client or ConnectClient.of(settings)
        self.source = source or open_source(req.target)
        self.topics = topics or KafkaTopics(kafka_config(settings))
        self.undo: list[tuple[str, Callable[[], Any]]] = []
        self._table_columns: dict[str, tuple[Column, ...]] | None = None
        self.doing = "start"

    # --- plan -------------------------------------------------------------------------------
    def plan(self) -> tuple[CaptureSpec, Preflight, OnboardResult, dict[str, str] | None]:
        spec = build_spec(self.req)
        classes = {p.get("class") for p in self.client.plugins()}  # Connect down: UnreachableError
        current = self.client.config(spec.connector_name)
        self._same_database(spec, current)
        self.echo(f"preflight of {self.req.target.safe_url} for {spec.connector_name}…")
        history = spec.kind == MARIADB and spec.schema_history_topic in self.topics.of(spec)
        pre = self.source.preflight(spec, connector_exists=current is not None, history_topic_exists=history)
        pre.checks.insert(
            0,
            ok("Debezium plugin", spec.connector_class, "installed in Kafka Connect")
            if spec.connector_class in classes
            else fail(
                "Debezium plugin",
                "not installed",
                spec.connector_class,
                "install the plugin on Connect's plugin.path (`sharebus stack up` does)",
            ),
        )
        drafts, catalog = None, None
        if self.req.catalog:
            spec, drafts, catalog = self._catalog(spec, pre)
        spec = self._keys(spec, pre, catalog)
        pre.raise_if_failed()
        result = OnboardResult(
            spec.connector_name,
            spec.kind,
            self.req.target.safe_url,
            "",
            pre.checks,
            render(spec, self.settings),
            catalog=drafts,
        )
        return spec, pre, result, current

    def _same_database(self, spec: CaptureSpec, current: dict[str, str] | None) -> None:
        if current is None:
            return
        wanted = render(spec, self.settings)
        moved = [k for k in _IDENTITY_KEYS if current.get(k) != wanted.get(k)]
        if moved:
            raise ConnectorError(
                f"connector {spec.connector_name}",
                "already captures another database",
                expected=", ".join(f"{k}={wanted.get(k)}" for k in moved),
                actual=", ".join(f"{k}={current.get(k)}" for k in moved),
                fix=f"choose another department id, or `sharebus connectors remove {spec.connector_name}"
                " --drop-slot` first",
            )

    def _columns(self, spec: CaptureSpec) -> dict[str, tuple[Column, ...]]:
        if self._table_columns is None:
            self._table_columns = self.source.columns(spec.tables)
        return self._table_columns

    def _keys(self, spec: CaptureSpec, pre: Preflight, catalog: Catalog | None) -> CaptureSpec:
        """Key each table's messages by the catalog's primary_key, refusing a sensitive key."""
        if _tables_missing(pre):
            return spec
        keys = plan_keys(
            spec.department, self._columns(spec), catalog, (*spec.mask_columns, *spec.exclude_columns)
        )
        pre.checks.extend(keys.checks)
        for table, cols in keys.key_columns if spec.kind == POSTGRES else ():
            identity = next((c for c in pre.checks if c.name == f"primary key of {table}"), None)
            if identity is not None and identity.status != OK:
                pre.checks.append(
                    fail(
                        f"before-images of {table}",
                        identity.found,
                        f"REPLICA IDENTITY FULL: deletes must carry the catalog's key ({', '.join(cols)}),"
                        " not only the table's primary key",
                        f"ALTER TABLE {table} REPLICA IDENTITY FULL;",
                    )
                )
        return replace(spec, key_columns=keys.key_columns)

    def _catalog(
        self, spec: CaptureSpec, pre: Preflight
    ) -> tuple[CaptureSpec, DraftPlan | None, Catalog | None]:
        city_dir = self.settings.catalog_dir / self.settings.city
        catalog = None
        try:
            catalog = load_city_catalog(city_dir)
            excluded = secret_columns(catalog, spec.department, spec.tables)
            spec = build_spec(self.req, excluded)
            if _tables_missing(pre):
                return spec, None, catalog  # drafts need the tables; preflight reports them already
            contact = self.req.contact or Contact("待指定 (to be named)", None)
            drafts = plan_drafts(
                city_dir,
                spec.kind,
                spec.department,
                self.req.department_name or spec.department,
                self._columns(spec),
                contact,
            )
        except ConfigError as exc:
            pre.checks.append(
                fail(
                    "catalog drafts",
                    exc.problem + (f" ({exc.actual})" if exc.actual else ""),
                    f"valid draft entries in {city_dir}",
                    exc.fix or "pass --no-catalog",
                )
            )
            return spec, None, catalog
        what = ", ".join(drafts.drafted) or "nothing new"
        pre.checks.append(ok("catalog drafts", what, f"entries in {city_dir} for the department to complete"))
        if excluded:
            pre.checks.append(ok("columns never shared", ", ".join(excluded), "excluded at the source"))
        return spec, drafts, catalog

    def _validate(self, spec: CaptureSpec, config: dict[str, str]) -> None:
        """Connect's validator, with the password in a throw-away secret file."""
        probe = f".validate-{uuid.uuid4().hex}"
        write_secret(self.settings.secrets_dir, probe, self.req.target.password or "")
        store = self.settings.secrets_dir / naming.db_truststore_secret(spec.department)
        had_store = store.exists()
        write_truststore(self.settings.secrets_dir, spec)  # Connect verifies a MariaDB server with it
        try:
            checked = {
                **config,
                "name": spec.connector_name,
                "database.password": f"${{dir:{self.settings.secrets_dir}:{probe}}}",
            }
            errors = self.client.validate(spec.connector_class, checked)
        finally:
            (self.settings.secrets_dir / probe).unlink(missing_ok=True)
            if not had_store:  # written for real when the connector is registered
                store.unlink(missing_ok=True)
        if errors:
            raise ConnectorError(
                f"connector {spec.connector_name}",
                f"Kafka Connect rejected {len(errors)} field{'s' if len(errors) > 1 else ''} of the config;"
                " nothing was created",
                expected="a config Connect validates",
                actual=", ".join(errors),
                fix="correct the fields below (--snapshot-mode, --set KEY=VALUE, …) and re-run",
                details="\n".join(f"{k}: {' / '.join(v)}" for k, v in errors.items()),
            )

    # --- apply ------------------------------------------------------------------------------
    def run(self) -> OnboardResult:
        spec, pre, result, current = self.plan()
        self.echo("validating the config with Kafka Connect…")
        self._validate(spec, result.config)
        result.diff = diff_configs(current, result.config)
        verb = "create" if current is None else ("update" if result.diff else "keep")
        result.steps = [s.description for s in pre.steps if s.do is not None]
        if verb != "keep":
            result.steps.append(f"{verb} connector {spec.connector_name}")
        if verb == "update" and not (self.req.confirm or self.req.dry_run):
            raise ChangePendingError(
                f"connector {spec.connector_name}",
                "is registered with a different config; nothing was changed",
                actual=f"{len(result.diff)} key(s) differ: " + ", ".join(c.key for c in result.diff),
                fix="review the diff below, then re-run with --yes to apply it",
                details="\n".join(c.render() for c in result.diff),
            )
        if self.req.dry_run:
            result.action = {"create": "would create", "update": "would update", "keep": "unchanged"}[verb]
            return result
        try:
            self._apply(spec, pre, result, verb, current)
        except KeyboardInterrupt:
            self.rollback()
            raise
        except SharebusError as exc:
            done = self.rollback()
            if done:
                exc.details = ((exc.details or "").rstrip() + "\nrolled back: " + "; ".join(done)).lstrip()
            raise
        except Exception as exc:  # a database or Kafka error mid-way: undo, then explain
            done = self.rollback()
            raise OnboardError(
                f"onboarding of {spec.connector_name}",
                f"failed while it was to {self.doing}",
                actual=redact(" ".join(str(exc).split()), [self.req.target.password])[:500],
                fix="correct the cause named above and re-run `sharebus connectors add`",
                details="rolled back: " + ("; ".join(done) or "nothing had been created"),
            ) from None
        return result

    def _apply(
        self,
        spec: CaptureSpec,
        pre: Preflight,
        result: OnboardResult,
        verb: str,
        current: dict[str, str] | None,
    ) -> None:
        topics_before = self.topics.of(spec) if verb == "create" else set()
        for step in pre.steps:
            if step.do is not None:
                self.doing = step.description
                self.echo(f"  {step.description}")
                step.do()
            if step.undo is not None:
                self.undo.append((step.description, step.undo))
        self.doing = "write the database password to the secrets dir"
        self._write_secret(spec)
        self.doing = f"register connector {spec.connector_name}"
        started_ms = int(time.time() * 1000)
        t0 = time.monotonic()
        if verb != "keep":
            self.client.put_config(spec.connector_name, result.config)
            if verb == "create":
                self.undo.append(
                    (
                        f"topics of {spec.connector_name}",
                        lambda: self.topics.delete(self.topics.of(spec) - topics_before),
                    )
                )
                self.undo.append(
                    (f"connector {spec.connector_name}", lambda: self.client.purge(spec.connector_name))
                )
            else:
                old = {k: v for k, v in (current or {}).items() if k != "name"}
                self.undo.append(
                    (
                        f"config of {spec.connector_name} (restored)",
                        lambda: self.client.put_config(spec.connector_name, old),
                    )
                )
            self.echo(
                f"  {verb}d connector {spec.connector_name}; waiting for it and its tasks to be RUNNING…"
            )
        result.state = self.client.wait_running(spec.connector_name, timeout=self.req.timeout)
        result.seconds_to_running = time.monotonic() - t0
        result.action = {"create": "created", "update": "updated", "keep": "unchanged"}[verb]
        self.echo(f"  {spec.connector_name} RUNNING after {result.seconds_to_running:.1f}s")
        if verb == "create" and spec.snapshot_mode not in _NO_SNAPSHOT and self.req.snapshot_timeout > 0:
            result.snapshot = self._follow_snapshot(spec, started_ms)
        if result.catalog is not None and result.catalog.changes:
            self.doing = "write the draft catalog entries"
            result.catalog.write()
            self.echo(
                f"  drafted catalog entries {', '.join(result.catalog.drafted)} in {result.catalog.path}"
            )

    def _write_secret(self, spec: CaptureSpec) -> None:
        record = self.settings.secrets_dir / naming.db_target_record(spec.department)
        recorded = record.read_text() if record.exists() else None
        record_target(self.settings.secrets_dir, spec)
        if record.read_text() != recorded:
            self.undo.append((f"secret {record.name}", lambda: _restore(record, recorded)))
        path = self.settings.secrets_dir / spec.password_secret
        before = path.read_text() if path.exists() else None
        if before == self.req.target.password:
            return
        write_secret(self.settings.secrets_dir, spec.password_secret, self.req.target.password or "")
        self.undo.append((f"secret {spec.password_secret}", lambda: _restore(path, before)))

    def _follow_snapshot(self, spec: CaptureSpec, since_ms: int) -> SnapshotSummary:
        reader = NotificationReader(
            kafka_config(self.settings), spec.notification_topic, since_ms=since_ms - 1000
        )
        try:
            summary = follow(reader, SnapshotSummary(INITIAL), self.echo, timeout=self.req.snapshot_timeout)
        finally:
            reader.close()
        summary.rows = {t: n for t, n in summary.rows.items() if t not in spec.bus_tables}
        if not summary.finished:
            self.echo(
                f"  snapshot still running after {self.req.snapshot_timeout:.0f}s;"
                f" follow it with `sharebus connectors status {spec.connector_name}`"
            )
        return summary

    def rollback(self) -> list[str]:
        """Undo what this run created, newest first; what was undone (failures are reported)."""
        done = []
        while self.undo:
            what, undo = self.undo.pop()
            try:
                undo()
                done.append(what)
                self.echo(f"  rolled back: {what}")
            except Exception as exc:  # keep undoing the rest
                self.echo(f"  could not roll back {what}: {str(exc).splitlines()[0]}")
        return done


def _restore(path: Path, before: str | None) -> None:
    if before is None:
        path.unlink(missing_ok=True)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(before)


def onboard(settings: Settings, req: OnboardRequest, echo: Echo) -> OnboardResult:
    """Onboard `req.department` (see `Onboarding`)."""
    return Onboarding(settings, req, echo).run()
