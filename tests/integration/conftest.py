"""Integration fixtures: one session-scoped real stack, and factories giving each test its own
topics, consumer groups and capture connectors."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from connectors.client import ConnectClient
from connectors.publication import drop_publication, drop_slot
from connectors.register import register_postgres
from connectors.render import CaptureSpec
from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.samples.connectors import sample_spec
from sharebus.dev.samples.database import apply_schema
from sharebus.dev.samples.departments import DEPARTMENTS, get_department
from sharebus.testing.ports import free_port
from sharebus.testing.waiting import wait_until
from tests.integration.router_harness import RouterProcess, worker_env


def _echo(line: str) -> None:
    print(f"[connect] {line}", flush=True)


@pytest.fixture(scope="session")
def stack_settings(local_stack: Settings) -> Settings:
    """The session's stack (the testing kit's `local_stack`) with the sample departments' schemas."""
    for dept in DEPARTMENTS:
        apply_schema(local_stack, dept)
    return local_stack


@pytest.fixture
def capture_factory(
    stack_settings: Settings, unique: Callable[[str], str]
) -> Iterator[Callable[..., CaptureSpec]]:
    """Per-test Debezium connectors on a sample department's database, with their own slot,
    publication and topic prefix (`cdc.<unique>`), streaming only (no snapshot). Removed after,
    slot and publication dropped. `own_database=True` gives the test a private copy of the
    department's database (no other writer can touch it; dropped after)."""
    client = ConnectClient.of(stack_settings)
    made: list[tuple[CaptureSpec, str]] = []
    databases: list[str] = []

    def make(dept_id: str, *, own_database: bool = False) -> CaptureSpec:
        dept = get_department(dept_id)
        if own_database:
            dept = dataclasses.replace(dept, database=unique(f"db_{dept_id}"))
            apply_schema(stack_settings, dept)
            databases.append(dept.database)
        base = sample_spec(dept, stack_settings, snapshot_mode="no_data")
        spec = CaptureSpec(**{**base.__dict__, "department": unique(f"t{dept_id}")})
        admin_dsn = stack_settings.pg_dsn(dept.database)
        made.append((spec, admin_dsn))
        register_postgres(
            client,
            spec,
            stack_settings,
            admin_dsn=admin_dsn,
            echo=_echo,
            password=stack_settings.pg_cdc_password.get_secret_value(),
        )
        wait_slot_streaming(admin_dsn, spec.slot_name)
        return spec

    yield make
    for spec, admin_dsn in made:
        client.delete(spec.connector_name)
        _wait_slot_inactive(admin_dsn, spec.slot_name)
        drop_slot(admin_dsn, spec.slot_name)
        drop_publication(admin_dsn, spec.publication_name)
    with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
        for name in databases:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _slot_active(conn: psycopg.Connection[tuple[object, ...]], slot: str) -> bool | None:
    """True/False: the slot is (not) streaming to a connector; None: no such slot."""
    row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    return None if row is None else bool(row[0])


def wait_slot_streaming(admin_dsn: str, slot: str, timeout: float = 60.0) -> None:
    """Block until Debezium streams from `slot`: changes committed after this are captured."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        wait_until(lambda: _slot_active(conn, slot), timeout, f"replication slot {slot} to stream")


def _wait_slot_inactive(admin_dsn: str, slot: str, timeout: float = 30.0) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        wait_until(lambda: not _slot_active(conn, slot), timeout, f"replication slot {slot} to be released")


@pytest.fixture
def router_factory(
    stack_settings: Settings, unique: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Path], RouterProcess]]:
    """`sharebus worker` processes on a test's own catalog dir, group, catalog topic and web port;
    stopped afterwards (their log is printed when the test fails)."""
    routers: list[RouterProcess] = []

    def make(catalog_dir: Path, **settings: str) -> RouterProcess:
        """A worker on `catalog_dir`; `settings` are extra SHAREBUS_ variables (name: value)."""
        work = tmp_path_factory.mktemp("router")
        env = worker_env(stack_settings, catalog_dir, work, unique) | settings
        router = RouterProcess(env, work / "worker.log")
        routers.append(router)
        router.start()
        return router

    yield make
    for router in routers:
        code = router.stop()
        print(f"--- worker log ({router.env['SHAREBUS_ROUTER_ID']}, exit {code}) ---\n{router.log()[-4000:]}")


# --- onboarding (`sharebus connectors add`) ---------------------------------------------------
@pytest.fixture
def sharebus_cli(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., object]:
    """Run `sharebus …` in-process against the stack, with its own copy of the catalog (drafts
    land there) and optional env overrides; returns click's Result (exit_code, stdout, stderr)."""
    import shutil

    from click.testing import CliRunner

    from sharebus.cli.main import cli
    from sharebus.core.settings import get_settings

    catalog = tmp_path / "catalog"
    shutil.copytree(stack_settings.catalog_dir, catalog)

    def run(*args: str, env: dict[str, str] | None = None) -> object:
        with monkeypatch.context() as patch:
            patch.setenv("SHAREBUS_CATALOG_DIR", str(catalog))
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            get_settings.cache_clear()
            try:
                result = CliRunner(mix_stderr=False).invoke(cli, list(args), catch_exceptions=False)
            finally:
                get_settings.cache_clear()
        print(f"$ sharebus {' '.join(args)}  -> exit {result.exit_code}\n{result.stderr}{result.stdout}")
        return result

    return run


@pytest.fixture
def onboard_db(stack_settings: Settings, unique: Callable[[str], str]) -> Iterator[dict[str, str]]:
    """What a department brings to `connectors add`: its own database in the stack's cluster,
    owned by its own role (LOGIN REPLICATION, not superuser), with `public.person` (primary key,
    REPLICA IDENTITY FULL) and no bus tables yet. Afterwards everything of it goes: connector,
    offsets, slot, topics, secret, database and role."""
    import secrets

    from psycopg import sql

    from connectors.slots import drop_slot as drop_pg_slot

    token = unique("x").split("_")[1]
    dept, role, db, password = f"onb{token}", f"onbowner_{token}", f"onb_{token}", secrets.token_hex(12)
    with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(role)))
    owner_dsn = (
        f"host={stack_settings.pg_host} port={stack_settings.pg_port} user={role}"
        f" password={password} dbname={db}"
    )
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.person (id bigint PRIMARY KEY, name text NOT NULL,"
            " district_code char(6) NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("ALTER TABLE public.person REPLICA IDENTITY FULL")
    yield {
        "dept": dept,
        "db": db,
        "role": role,
        "password": password,
        "owner_dsn": owner_dsn,
        "url": f"postgresql://{role}:{password}@{stack_settings.pg_host}:{stack_settings.pg_port}/{db}",
        "admin_dsn": stack_settings.pg_dsn(db),
    }
    client = ConnectClient.of(stack_settings)
    if client.status(f"cdc-{dept}") is not None:
        client.purge(f"cdc-{dept}")
    with psycopg.connect(stack_settings.pg_dsn(db), autocommit=True) as conn:
        drop_pg_slot(conn, f"sharebus_{dept}")
    with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    admin = admin_client(kafka_config(stack_settings))
    leftovers = [t for t in admin.list_topics(timeout=10).topics if f".{dept}" in t or t.endswith(dept)]
    if leftovers:
        for future in admin.delete_topics(leftovers).values():
            future.result(timeout=30)
    (stack_settings.secrets_dir / f"cdc-{dept}.db-password").unlink(missing_ok=True)


@pytest.fixture
def throwaway_pg(
    tmp_path_factory: pytest.TempPathFactory, stack_settings: Settings
) -> Iterator[dict[str, object]]:
    """A second, private PostgreSQL cluster with wal_level=replica on a free port (the stack's
    cluster must stay logical), serving TLS with the stack's `postgres` certificate as a
    department's server would (the bus connects with verify-full); stopped and removed after."""
    import shutil
    import signal
    import subprocess
    import tempfile

    from sharebus.dev.stack.system import postgres_bin_dir
    from sharebus.dev.stack.tls import Authority

    bin_dir = postgres_bin_dir()
    assert bin_dir is not None, "PostgreSQL binaries are installed by the stack"
    user = "postgres" if os.geteuid() == 0 else None
    data = Path(tempfile.mkdtemp(prefix="sharebus-pg-replica-"))
    pwfile = data / "pw"
    password = uuid.uuid4().hex
    pwfile.write_text(password)
    if user is not None:
        shutil.chown(data, user, user)
        shutil.chown(pwfile, user, user)
    cluster = data / "cluster"
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(cluster),
            "-U",
            "sharebus",
            f"--pwfile={pwfile}",
            "-A",
            "scram-sha-256",
            "--no-locale",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        user=user,
        group=user,
    )
    files = Authority.of(stack_settings).files("postgres")
    for source, name in ((files.cert, "server.crt"), (files.key, "server.key")):
        (cluster / name).write_bytes(source.read_bytes())
        (cluster / name).chmod(0o600)
        if user is not None:
            shutil.chown(cluster / name, user, user)
    port = free_port()
    log = (data / "postgres.log").open("wb")
    proc = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(cluster),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "wal_level=replica",
            "-c",
            "ssl=on",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        user=user,
        group=user,
        start_new_session=True,
    )
    dsn = f"host=127.0.0.1 port={port} user=sharebus password={password} dbname=postgres"

    def accepts_logins() -> bool:
        assert proc.poll() is None, (data / "postgres.log").read_text()
        try:
            psycopg.connect(dsn, connect_timeout=1).close()
        except psycopg.OperationalError:
            return False
        return True

    wait_until(
        accepts_logins,
        30,
        "the throwaway PostgreSQL to accept logins",
        last=lambda: (data / "postgres.log").read_text()[-2000:],
    )
    try:
        yield {"port": port, "password": password, "dsn": dsn}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


# --- the district side (`sharebus district …`, `sharebus reconcile`) ---------------------------
@pytest.fixture
def district_db(stack_settings: Settings, unique: Callable[[str], str]) -> Iterator[dict[str, str]]:
    """A district's own database `district_<token>` in the stack's cluster, owned by its own
    login role (the district's credentials, no superuser); dropped afterwards."""
    from psycopg import sql

    token = unique("x").split("_")[1]
    db, role, password = f"district_{token}", f"district_{token}", uuid.uuid4().hex
    with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(role)))
    url = f"postgresql://{role}:{password}@{stack_settings.pg_host}:{stack_settings.pg_port}/{db}"
    yield {"db": db, "role": role, "url": url, "admin_dsn": stack_settings.pg_dsn(db)}
    with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def source_db_factory(
    stack_settings: Settings, unique: Callable[[str], str]
) -> Iterator[Callable[..., CaptureSpec]]:
    """A department database of a test's own (`src_<token>_<dept>`, the sample DDL of `dept`, or
    of the up-flow sample with dept="upflow"), seeded by `seed(conn)` if given, captured by its own
    connector (initial snapshot, department id `<dept>_<token>`); all of it removed afterwards."""
    from psycopg import sql

    from sharebus.dev.samples.departments import SampleDepartment
    from sharebus.dev.samples.upflow import SQL_FILE, TABLE

    client = ConnectClient.of(stack_settings)
    made: list[CaptureSpec] = []

    def make(dept_id: str, seed: Callable[[psycopg.Connection], None] | None = None) -> CaptureSpec:
        token = unique("x").split("_")[1]
        if dept_id == "upflow":
            sample = SampleDepartment("upflow", "区县数据上报", "", SQL_FILE, (TABLE,))
        else:
            sample = get_department(dept_id)
        own = SampleDepartment(
            f"{dept_id}_{token}", sample.name_zh, f"src_{token}_{dept_id}", sample.sql_file, sample.tables
        )
        apply_schema(stack_settings, own)
        if seed is not None:
            with psycopg.connect(stack_settings.pg_dsn(own.database), autocommit=True) as conn:
                seed(conn)
        spec = sample_spec(own, stack_settings, snapshot_mode="initial")
        made.append(spec)
        register_postgres(
            client,
            spec,
            stack_settings,
            admin_dsn=stack_settings.pg_dsn(own.database),
            echo=_echo,
            password=stack_settings.pg_cdc_password.get_secret_value(),
        )
        wait_slot_streaming(stack_settings.pg_dsn(own.database), spec.slot_name)
        return spec

    yield make
    admin = admin_client(kafka_config(stack_settings))
    for spec in made:
        client.delete(spec.connector_name)
        admin_dsn = stack_settings.pg_dsn(spec.db_name)
        _wait_slot_inactive(admin_dsn, spec.slot_name)
        drop_slot(admin_dsn, spec.slot_name)
        drop_publication(admin_dsn, spec.publication_name)
        with psycopg.connect(stack_settings.pg_dsn(), autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(spec.db_name)))
        dept = spec.department
        leftovers = [
            t
            for t in admin.list_topics(timeout=10).topics
            if t.startswith(f"cdc.{dept}.") or f".{dept}." in t or t.endswith(f".{dept}")
        ]
        if leftovers:
            for future in admin.delete_topics(leftovers).values():
                future.result(timeout=30)


class SyncProcess:
    """`sharebus district sync` as a child process (killable like a crash)."""

    def __init__(self, env: dict[str, str], args: list[str], log_path: Path) -> None:
        import subprocess
        import sys

        self.env, self.args, self.log_path = env, args, log_path
        self.command = [sys.executable, "-m", "sharebus", "district", "sync", *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self._subprocess = subprocess

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = self._subprocess.Popen(
                self.command,
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=self._subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        import signal

        if self.proc is not None and self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        import signal

        if self.proc is None:
            return None
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except self._subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def sync_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SyncProcess]]:
    """District sync processes with a worker's environment (same Kafka, registry, catalog topic);
    stopped afterwards, their logs printed."""
    procs: list[SyncProcess] = []

    def make(router: RouterProcess, subscriber: str, target_url: str, *extra: str) -> SyncProcess:
        work = tmp_path_factory.mktemp("sync")
        args = [subscriber, "--target", target_url, "--progress-every", "2", *extra]
        proc = SyncProcess(dict(router.env), args, work / f"sync-{subscriber}.log")
        procs.append(proc)
        proc.start()
        return proc

    yield make
    for proc in procs:
        code = proc.stop()
        print(f"--- sync log ({' '.join(proc.args[:1])}, exit {code}) ---\n{proc.log()[-3000:]}")


@pytest.fixture
def catalog_factory(
    stack_settings: Settings, tmp_path: Path, unique: Callable[[str], str]
) -> Iterator[Callable[..., Path]]:
    """The sample catalog with every department renamed: those given (`market=spec`) to their test
    capture's department, the others to ids of this test alone, so the router reads no shared raw
    topic. Topics made for the unused ones are deleted afterwards."""
    from sharebus.catalog.load import load_catalog
    from tests.integration.router_harness import SAMPLE_CATALOG, write_catalog

    unused: list[str] = []

    def make(**specs: CaptureSpec) -> Path:
        token = unique("x").split("_")[1]
        mapping = {}
        for dept in load_catalog(SAMPLE_CATALOG).departments:
            spec = specs.get(dept.id)
            mapping[dept.id] = spec.department if spec is not None else f"{dept.id}_n{token}"
            if spec is None:
                unused.append(mapping[dept.id])
        return write_catalog(tmp_path / f"catalog_{token}", mapping)

    yield make
    admin = admin_client(kafka_config(stack_settings))
    leftovers = [t for t in admin.list_topics(timeout=10).topics if any(f".{d}" in t for d in unused)]
    if leftovers:
        for future in admin.delete_topics(leftovers).values():
            future.result(timeout=30)
