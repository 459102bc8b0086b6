"""The main job: the whole bus with sample departments — stack, databases, capture, router,
change stream."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from sharebus.apps.acl import subscribers
from sharebus.apps.acl.broker import Broker
from sharebus.apps.acl.sync import sync
from sharebus.apps.district.live import live_catalog
from sharebus.apps.worker_process import WorkerProcess
from sharebus.core import naming
from sharebus.core.errors import UnreachableError
from sharebus.core.https import web_url
from sharebus.core.kafka_clients import Role, admin_client, consumer_config, kafka_config
from sharebus.core.outage import KafkaWatch
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.core.signing import SignatureError
from sharebus.dev.samples import hrss
from sharebus.dev.samples.connectors import apply_sample_connectors
from sharebus.dev.samples.database import apply_schema
from sharebus.dev.samples.departments import DEPARTMENTS
from sharebus.dev.samples.generator import ChangeCounts, ChangeGenerator, seed
from sharebus.dev.stack.manager import LocalStack
from sharebus.dev.supervisor import Child, ChildProcess, Supervisor
from streams.router.live_catalog import latest_catalog, publish_catalog

SAMPLE_DISTRICTS = ("500103", "500105")  # 渝中区, 江北区: each syncs into its own database


@dataclass(frozen=True)
class RunOptions:
    external: bool = False  # components run elsewhere (docker-compose): wait for them, start nothing
    rows: int = 2000  # sample rows per table when a department's tables are empty
    rate: float = 20.0  # generated changes per second
    duration: float | None = None  # seconds; None = until interrupted
    districts: tuple[str, ...] = SAMPLE_DISTRICTS  # districts whose copy `run` keeps in sync


def _catalog_live(settings: Settings, echo: Echo) -> None:
    """A catalog signed by the admin is live before the worker starts (it never publishes one):
    the one live already, else the local folder's."""
    try:
        live = latest_catalog(settings)
    except SignatureError as exc:
        echo(f"the live catalog is not the admin's ({exc.problem}): publishing the local folder's")
        live = None
    if live is None:
        published = publish_catalog(settings)
        echo(
            f"  catalog {published.city} version {published.version} published"
            f" (signed by key {published.key_id})"
        )


def run_bus(settings: Settings, options: RunOptions, echo: Echo) -> ChangeCounts:
    """Bring everything up, then stream changes until interrupted (or `duration`)."""
    stack = LocalStack(settings)
    if options.external:
        wait_for_components(stack, echo)
    else:
        echo("starting the local stack…")
        stack.up(echo)
    echo("preparing the sample department databases…")
    for dept in DEPARTMENTS:
        apply_schema(settings, dept)
        if _row_count(settings, dept.database, dept.tables[0]) == 0 and options.rows:
            seed(settings, dept.id, options.rows)
            echo(f"  {dept.id}: seeded {options.rows} rows per table")
    hrss.apply_schema(settings)  # the MariaDB department
    if options.rows and _hrss_empty(settings):
        hrss.seed(settings, options.rows)
        echo(f"  {hrss.HRSS.id}: seeded {options.rows} rows")
    echo("registering the Debezium connectors…")
    for reg in apply_sample_connectors(settings, [*(d.id for d in DEPARTMENTS), hrss.HRSS.id], echo):
        echo(f"  {reg.name}: {reg.action}, {reg.state.state}")
    _catalog_live(settings, echo)
    echo("starting the router (sharebus worker)…")
    worker = WorkerProcess(dict(os.environ), settings.runtime_dir.resolve() / "logs" / "worker.log")
    worker.name = "router"
    worker.start()
    web = web_url(settings, "/dashboard")
    who = f", log in as {settings.kafka_admin_user}" if settings.kafka_secure else ""
    echo(f"  router running (pid {worker.pid}), web {web}{who}, log {worker.log_path}")
    logins = _grant_access(settings, options.districts, echo)
    supervisor = Supervisor([worker, *_district_side(settings, options.districts, logins)], echo)
    supervisor.start()
    echo(
        f"districts {', '.join(options.districts)} syncing into pool_<code>; backfills and ACLs"
        f" following the catalog (logs: {worker.log_path.parent}); a part that exits is restarted"
    )
    echo(
        f"streaming changes at {options.rate:g}/s into {', '.join(d.id for d in DEPARTMENTS)}"
        f" (and {max(1, int(options.rate / 10))}/s into {hrss.HRSS.id} on MariaDB)"
        " (Ctrl-C stops the stream and the router; `sharebus stack down` stops the stack)"
    )
    generator = ChangeGenerator(settings, [d.id for d in DEPARTMENTS], rate=options.rate)
    watch = KafkaWatch(kafka_config(settings), settings.kafka_outage_tolerance, component="sharebus run")
    watcher = _TopicWatcher(settings, watch)
    ids = (*(d.id for d in DEPARTMENTS), hrss.HRSS.id)
    raw = frozenset(naming.raw_topic(naming.raw_prefix(d)) for d in ids)
    captured: TopicFilter = raw.__contains__
    delivered = _shares_of(ids)
    dead = _starts_with(*(naming.dlq_topic(d) for d in ids))
    failed: list[BaseException] = []

    def report(counts: ChangeCounts, elapsed: float) -> None:
        try:
            watch.check()
        except UnreachableError as exc:  # past the tolerance: the bus stops, loudly
            failed.append(exc)
            generator.stop()
            return
        figures = watcher.figures(captured, delivered, dead)
        status = watch.status()
        seen = (
            f"{status or 'Kafka does not answer'}: the bus waits and resumes by itself"
            if status is not None or figures is None
            else f"captured {figures[0]:,}  delivered {figures[1]:,}  dead letters {figures[2]:,}"
        )
        echo(
            f"  {elapsed:7.0f}s  committed {counts.total:>8,} changes"
            f" ({counts.count('insert')} ins, {counts.count('update')} upd, {counts.count('delete')} del,"
            f" {counts.count('move')} moves)  {seen}"
        )

    def stop(signum: int, frame: FrameType | None) -> None:
        generator.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    mariadb_stream = _Paced(lambda: hrss.generate_changes(settings, max(1, int(options.rate / 10))))
    mariadb_stream.start()
    try:
        counts = generator.run(duration=options.duration, progress=report, progress_interval=5.0)
    finally:
        codes = supervisor.stop()
        mariadb_stream.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        watcher.close()
        watch.close()
    if failed:
        raise failed[0]
    echo(
        f"stopped after {counts.total:,} changes ({counts.rate:.1f}/s); router exited with"
        f" {codes.get(worker.name)}; {supervisor.restarts} restart(s) on the way"
    )
    return counts


def wait_for_components(stack: LocalStack, echo: Echo, timeout: float = 300.0) -> None:
    """Wait until every component (run by someone else) answers its health probe."""
    deadline = time.monotonic() + timeout
    for comp in stack.components:
        echo(f"waiting for {comp.name} at {comp.endpoint}…")
        while (problem := comp.probe()) is not None:
            if time.monotonic() > deadline:
                raise UnreachableError(
                    f"{comp.name} at {comp.endpoint}",
                    f"not answering after {timeout:.0f}s",
                    actual=problem,
                    fix=f"start it, or correct the endpoint setting ({comp.port_setting})",
                )
            time.sleep(1.0)


def _grant_access(settings: Settings, districts: tuple[str, ...], echo: Echo) -> dict[str, dict[str, str]]:
    """`acl sync` from the live catalog, and a fresh login for each sample district: the env its
    `district sync` runs with (the district's own principal on the public listener)."""
    if not settings.kafka_secure:
        return {}
    catalog = live_catalog(settings)
    changes = sync(settings, catalog)
    echo(f"  ACLs: {len(changes.add)} added, {len(changes.remove)} removed, {changes.kept} in place")
    users = Broker(settings).users()
    logins: dict[str, dict[str, str]] = {}
    for code in districts:
        change = (subscribers.rotate if code in users else subscribers.add)(settings, catalog, code)
        assert change.config is not None
        logins[code] = {
            "SHAREBUS_KAFKA_BOOTSTRAP": change.config.bootstrap,
            "SHAREBUS_KAFKA_USER": change.config.username,
            "SHAREBUS_KAFKA_PASSWORD": change.config.password,
        }
        echo(f"  district {code}: login {change.action.split('.')[1]}d, {len(change.config.topics)} topic(s)")
    return logins


def _district_side(
    settings: Settings, districts: tuple[str, ...], logins: dict[str, dict[str, str]]
) -> list[Child]:
    """Districts keeping their copies (`district sync` into database `pool_<code>` of the local
    cluster, each as its own Kafka principal), backfills and ACLs following the policy, and the
    demand desk, as children."""
    logs = settings.runtime_dir.resolve() / "logs"
    env = {**os.environ, "SHAREBUS_DISTRICT_DB_PASSWORD": settings.pg_password.get_secret_value()}
    children: list[Child] = [
        ChildProcess(
            "backfill follower",
            ["district", "backfill", "--follow", "--interval", "1"],
            env,
            logs / "backfill.log",
        ),
        ChildProcess("acl follower", ["acl", "sync", "--follow"], env, logs / "acl.log"),
        ChildProcess("demand desk", ["demand", "serve"], env, logs / "demands.log"),
    ]
    with psycopg.connect(settings.pg_dsn(), autocommit=True) as conn:
        for code in districts:
            database = f"pool_{code}"
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{database}"')
            target = f"postgresql://{settings.pg_user}@{settings.pg_host}:{settings.pg_port}/{database}"
            children.append(
                ChildProcess(
                    f"district sync {code}",
                    ["district", "sync", code, "--target", target],
                    {**env, **logins.get(code, {})},
                    logs / f"district-{code}.log",
                )
            )
    return children


def _hrss_empty(settings: Settings) -> bool:
    with hrss.admin(settings, hrss.HRSS.database) as cur:
        cur.execute("SELECT 1 FROM social_insurance LIMIT 1")
        return cur.fetchone() is None


class _Paced:
    """Calls `step` once a second in a thread until stopped; a failing step stops it loudly."""

    def __init__(self, step: Callable[[], object]) -> None:
        self.step = step
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.step()
            except Exception as exc:
                self.error = exc
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.error is not None:
            raise self.error


def _row_count(settings: Settings, database: str, table: str) -> int:
    with psycopg.connect(settings.pg_dsn(database)) as conn:
        schema, _, name = table.partition(".")
        row = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM " + f'"{schema}"."{name}"' + " LIMIT 1) t"
        ).fetchone()
        return int(row[0]) if row else 0


TopicFilter = Callable[[str], bool]


def _starts_with(*prefixes: str) -> TopicFilter:
    return lambda name: name.startswith(prefixes)


def _shares_of(departments: Iterable[str]) -> TopicFilter:
    """Subscriber topics of `departments`' resources."""
    wanted = frozenset(departments)

    def selects(name: str) -> bool:
        parsed = naming.parse_share_topic(name)
        return parsed is not None and parsed[1] in wanted

    return selects


class _TopicWatcher:
    """Counts messages on topics by name prefix (sum of end offsets): captured, delivered."""

    def __init__(self, settings: Settings, watch: KafkaWatch) -> None:
        self.watch = watch
        self.admin = admin_client(kafka_config(settings))
        self.consumer = Consumer(
            consumer_config(
                settings, Role.ADMIN, {"group.id": naming.RUN_WATCH_GROUP, **watch.client_config()}
            )
        )

    def figures(self, *kinds: TopicFilter) -> tuple[int, ...] | None:
        """Messages on the topics each of `kinds` selects (see `events`); None while Kafka is away."""
        if self.watch.suspected:
            return None
        try:
            return tuple(self.events(k) for k in kinds)
        except KafkaException as exc:
            self.watch.failed(exc)
            return None

    def events(self, kind: TopicFilter) -> int:
        """Messages on the topics `kind` selects (not those of the tests' own routers)."""
        topics = self.admin.list_topics(timeout=5).topics
        total = 0
        for name, meta in topics.items():
            if ".sharebus." in name or not kind(name):
                continue
            for p in meta.partitions:
                low, high = self.consumer.get_watermark_offsets(TopicPartition(name, p), timeout=5)
                total += max(0, high - low)
        return total

    def close(self) -> None:
        self.consumer.close()
