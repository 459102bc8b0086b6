"""The local stack as a whole: fetch once, start in dependency order, report, stop in reverse."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sharebus.core.errors import ConfigError
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.dev.stack.component import Component, ComponentStatus
from sharebus.dev.stack.connect import Connect
from sharebus.dev.stack.fetch import fetch_all
from sharebus.dev.stack.kafka import Kafka
from sharebus.dev.stack.layout import Layout
from sharebus.dev.stack.mariadb import MariaDB
from sharebus.dev.stack.postgres import Postgres
from sharebus.dev.stack.registry import Registry
from sharebus.dev.stack.system import ensure_java, ensure_maven, ensure_postgres
from sharebus.dev.stack.tls import Authority


@dataclass(frozen=True)
class UpReport:
    """What `up` did: per component 'started' or 'already running', and how long it all took."""

    actions: dict[str, str]
    fetched: bool
    seconds: float


class LocalStack:
    """Kafka (KRaft), Kafka Connect (distributed, Debezium) and PostgreSQL as local processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = Layout.of(settings)
        # Dependency order: Connect needs Kafka; Debezium needs PostgreSQL only once connectors run.
        self.components: tuple[Component, ...] = (
            Postgres(settings, self.layout),
            MariaDB(settings, self.layout),
            # A cluster's nodes 2… first: node 1 is healthy once all of them are registered.
            *(Kafka(settings, self.layout, node) for node in range(settings.kafka_brokers, 1, -1)),
            Kafka(settings, self.layout),
            Registry(settings, self.layout),  # stores schemas in Kafka
            Connect(settings, self.layout),
        )

    def component(self, name: str) -> Component:
        for comp in self.components:
            if comp.name == name:
                return comp
        known = ", ".join(c.name for c in self.components)
        raise ConfigError(
            f"component {name!r}", "unknown component", expected=known, fix=f"use one of: {known}"
        )

    def up(self, echo: Echo) -> UpReport:
        started = time.monotonic()
        self.layout.ensure()
        ensure_java(echo)
        ensure_postgres(echo)
        if not _fetched(self.layout):
            ensure_maven(echo)
        fetched = fetch_all(self.layout, echo)
        # The CA and every server's certificate (the worker's web server's too), current.
        Authority.of(self.settings).ensure(self.settings, echo)
        actions: dict[str, str] = {}
        for comp in self.components:
            t0 = time.monotonic()
            action = comp.start(echo)
            actions[comp.name] = action
            echo(f"  {comp.name:<9} {action:<16} {comp.endpoint}  ({time.monotonic() - t0:.1f}s)")
        return UpReport(actions, fetched, time.monotonic() - started)

    def down(self, echo: Echo) -> dict[str, bool]:
        result: dict[str, bool] = {}
        for comp in reversed(self.components):
            stopped = comp.stop()
            result[comp.name] = stopped
            echo(f"  {comp.name:<9} {'stopped' if stopped else 'was not running'}")
        return result

    def status(self) -> list[ComponentStatus]:
        return [comp.status() for comp in self.components]

    def healthy(self) -> bool:
        return all(s.healthy for s in self.status())


def _fetched(layout: Layout) -> bool:
    return any(layout.lib.glob(".fetched-*")) and any(layout.plugins.glob(".fetched-*"))
