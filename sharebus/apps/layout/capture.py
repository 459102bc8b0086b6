"""`sharebus topics migrate` for capture: each connector of the per-table layout paused, its
per-table topics drained by the router, switched to its one raw topic (Debezium's topic router),
resumed; then the drained per-table topics deleted."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer

from connectors.client import ConnectClient
from connectors.render import bus_tables_of, department_topic_regex, topic_routing
from connectors.topics import delete_topics
from sharebus.apps.district.backfill import ends_of, wait_routed
from sharebus.catalog.models import Catalog
from sharebus.core import naming
from sharebus.core.audit import TOPICS_MIGRATE, AuditLog, event
from sharebus.core.errors import SharebusError
from sharebus.core.kafka_clients import Role, consumer_config, kafka_config
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

DRAIN_TIMEOUT = 300.0
QUIET_S = 2.0  # the per-table topics' ends unchanged this long: the paused task wrote its last


class CaptureMigrationError(SharebusError):
    """A connector could not be switched: it is resumed as it was, nothing of it deleted."""


@dataclass
class CaptureMove:
    """One capture connector of the per-table layout and its per-table topics."""

    connector: str
    raw_topic: str
    routed: list[str]  # per-table topics of catalogued tables: drained by the router, then deleted
    unrouted: list[str]  # per-table topics no catalog resource reads: left, reported
    records: int = 0  # records the router routed from them, all told (their end offsets)
    switched: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "to": self.raw_topic,
            "table_topics": self.routed,
            "left_unread": self.unrouted,
            "records_routed": self.records,
            "switched": self.switched,
        }


@dataclass
class CaptureReport:
    moves: list[CaptureMove] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def needs_routing(name: str, config: Mapping[str, str]) -> bool:
    """A connector of the bus whose config lacks the topic router (registered before it)."""
    logical = config.get("topic.prefix", "")
    if naming.department_of_connector(name) is None or naming.department_of_raw_prefix(logical) is None:
        return False
    wanted = topic_routing(logical, bus_tables_of(config))
    return any(config.get(k) != v for k, v in wanted.items())


def plan_capture(
    configs: Mapping[str, Mapping[str, str]], topics: Iterable[str], catalog: Catalog
) -> list[CaptureMove]:
    """The bus's connectors whose config has no topic router yet, each with the per-table topics
    its router would take over (pure: from the connectors' configs and the topic names)."""
    read = {r.source.table_topic for r in catalog.resources}
    names = sorted(topics)
    moves = []
    for name, config in sorted(configs.items()):
        if not needs_routing(name, config):
            continue
        logical = config["topic.prefix"]
        pattern = re.compile(department_topic_regex(logical, bus_tables_of(config)))
        tables = [t for t in names if pattern.fullmatch(t)]
        moves.append(
            CaptureMove(
                name,
                naming.raw_topic(logical),
                [t for t in tables if t in read],
                [t for t in tables if t not in read],
            )
        )
    return moves


class CaptureMigration:
    """Pause → drained → switched → resumed, one connector at a time: no event is routed out of
    order (the per-table topic is empty of unrouted events before its table writes elsewhere)."""

    def __init__(self, settings: Settings, catalog: Callable[[], Catalog], echo: Echo) -> None:
        self.settings = settings
        self.catalog = catalog  # the live catalog, read only when a connector needs switching
        self.echo = echo
        self.connect = ConnectClient.of(settings)

    def plan(self, topics: Iterable[str]) -> list[CaptureMove]:
        names = [n for n in self.connect.names() if naming.department_of_connector(n) is not None]
        configs = {n: c for n in names if (c := self.connect.config(n)) is not None}
        if not any(needs_routing(n, c) for n, c in configs.items()):
            return []
        return plan_capture(configs, topics, self.catalog())

    def run(self, moves: list[CaptureMove]) -> CaptureReport:
        report = CaptureReport(moves)
        for i, move in enumerate(moves, 1):
            self._switch(move)
            AuditLog(self.settings).write(
                [
                    event(
                        self.settings,
                        TOPICS_MIGRATE,
                        move.connector,
                        move.raw_topic,
                        catalog_version=None,
                        count=move.records,
                        detail=move.to_dict(),
                    )
                ]
            )
            deleted = delete_topics(kafka_config(self.settings, Role.ADMIN), move.routed)
            report.deleted += deleted
            self.echo(
                f"  [{i}/{len(moves)}] {move.connector} → {move.raw_topic}: {move.records:,} records"
                f" routed from {len(move.routed)} table topics, deleted"
                + (f"; {len(move.unrouted)} no resource reads left in place" if move.unrouted else "")
            )
        return report

    def _switch(self, move: CaptureMove) -> None:
        name, connect = move.connector, self.connect
        config = connect.config(name)
        if config is None:
            raise CaptureMigrationError(f"connector {name}", "is gone", fix="run the migration again")
        connect.pause(name)
        try:
            connect.wait_state(name, "PAUSED")
            group = {"group.id": naming.MIGRATE_READER_GROUP, "enable.auto.commit": False}
            consumer = Consumer(consumer_config(self.settings, Role.ADMIN, group))
            try:
                ends = self._quiet_ends(consumer, move.routed)
            finally:
                consumer.close()
            for topic, topic_ends in ends.items():
                if not wait_routed(self.settings, topic, topic_ends, DRAIN_TIMEOUT):
                    raise CaptureMigrationError(
                        f"topic {topic}",
                        f"was not routed to its end within {DRAIN_TIMEOUT:.0f}s",
                        expected=f"group {self.settings.router_id} committed at {dict(topic_ends)}",
                        fix="start the router (`sharebus run` or `sharebus worker`) so it routes"
                        " what is left there, then run the migration again; the connector is"
                        " resumed as it was",
                    )
                move.records += sum(topic_ends.values())
            logical = config["topic.prefix"]
            connect.put_config(name, {**config, **topic_routing(logical, bus_tables_of(config))})
            move.switched = True
        finally:
            connect.resume(name)
        connect.wait_running(name)

    @staticmethod
    def _quiet_ends(consumer: Consumer, topics: list[str]) -> dict[str, dict[int, int]]:
        """The topics' end offsets once they stopped moving (a paused task may still flush)."""
        ends = {t: ends_of(consumer, t) for t in topics}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(QUIET_S)
            again = {t: ends_of(consumer, t) for t in topics}
            if again == ends:
                return ends
            ends = again
        return ends
