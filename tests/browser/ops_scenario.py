"""A bus to watch, for the ops tests: rows inserted steadily per district into a test's own
department database, and district consumers (`<district>.<name>` groups) that keep up, fall
behind or stop; plus the lag Kafka itself reports, to check the ops figures against."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

import psycopg
import requests
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from psycopg import sql

from sharebus.core.https import verify
from sharebus.core.kafka_clients import admin_client, http_login, kafka_config
from sharebus.core.settings import Settings
from sharebus.dev.samples.rows import RowFactory
from sharebus.testing.kafka import wait_for_records


class Inserter:
    """Inserts enterprises of the given districts at `per_second` each, in a thread."""

    def __init__(self, settings: Settings, database: str, rates: Mapping[str, float]) -> None:
        self.settings, self.database, self.rates = settings, database, dict(rates)
        self.inserted = dict.fromkeys(rates, 0)
        self.factory = RowFactory.for_settings(settings, seed=7)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def insert(self, district: str, n: int) -> None:
        with psycopg.connect(self.settings.pg_dsn(self.database), autocommit=True) as conn:
            for _ in range(n):
                row = self.factory.enterprise()
                row["district_code"] = district
                conn.execute(
                    sql.SQL("INSERT INTO public.enterprise ({}) VALUES ({})").format(
                        sql.SQL(", ").join(map(sql.Identifier, row)),
                        sql.SQL(", ").join(sql.Placeholder() * len(row)),
                    ),
                    list(row.values()),
                )
                self.inserted[district] = self.inserted.get(district, 0) + 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(30)
        return dict(self.inserted)

    def _run(self) -> None:
        owed = dict.fromkeys(self.rates, 0.0)
        while not self._stop.wait(0.5):
            for district, rate in self.rates.items():
                owed[district] += rate * 0.5
                whole = int(owed[district])
                if whole:
                    self.insert(district, whole)
                    owed[district] -= whole


class DistrictConsumer:
    """A district's consumer of one topic in a thread: `pace` None reads all it can (committing
    each batch); a pace reads one record per `pace` seconds (committing each). `stop` closes it."""

    def __init__(self, settings: Settings, group: str, topic: str, *, pace: float | None = None) -> None:
        self.group, self.topic, self.pace = group, topic, pace
        self.consumed = 0
        self.consumer = Consumer(
            {
                **kafka_config(settings),
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.consumer.subscribe([self.topic])
        self._thread.start()

    def stop(self) -> int:
        """Stop consuming and leave the group; returns how many records it consumed."""
        self._stop.set()
        self._thread.join(30)
        return self.consumed

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.pace is None:
                    msgs = [m for m in self.consumer.consume(500, 0.2) if m.error() is None]
                    if msgs:
                        self.consumed += len(msgs)
                        self.consumer.commit(asynchronous=False)
                    continue
                msg = self.consumer.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                self.consumed += 1
                self.consumer.commit(message=msg, asynchronous=False)
                self._stop.wait(self.pace)
        finally:
            self.consumer.close()


def kafka_lag(settings: Settings, group: str, topic: str) -> tuple[int, int]:
    """(end offset, committed offset) of `group` on `topic`, summed over partitions, as Kafka
    reports them — what the ops figures must match."""
    admin = admin_client(kafka_config(settings))
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    parts = [TopicPartition(topic, p) for p in meta.partitions]
    request = [ConsumerGroupTopicPartitions(group, parts)]
    result = admin.list_consumer_group_offsets(request, request_timeout=10)[group].result()
    committed = sum(max(tp.offset, 0) for tp in result.topic_partitions)
    probe = Consumer({**kafka_config(settings), "group.id": "ops-test-probe"})
    try:
        end = sum(probe.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
    finally:
        probe.close()
    return end, committed


def wait_for_end(settings: Settings, topic: str, count: int, timeout: float = 60.0) -> None:
    """Until `topic` holds `count` records (the router delivered everything inserted)."""
    wait_for_records(settings, topic, count, timeout)


def ops_status_json(env: Mapping[str, str]) -> dict[str, Any]:
    """`sharebus ops status --json` as a district's operator runs it (another process)."""
    proc = subprocess.run(
        [sys.executable, "-m", "sharebus", "ops", "status", "--json"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    result["_stderr"] = proc.stderr
    return result


def worker_get(env: Mapping[str, str], path: str) -> requests.Response:
    """GET from the worker's web server, logged in as the admin (the stack's settings)."""
    settings = Settings()
    url = f"https://127.0.0.1:{env['SHAREBUS_WEB_PORT']}{path}"
    response = requests.get(url, auth=http_login(settings), timeout=30, verify=verify(settings))
    response.raise_for_status()
    return response


def subscriber(report: Mapping[str, Any], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in report["subscribers"] if s["subscriber"] == sid)
    return found


def delete_groups(settings: Settings, groups: list[str]) -> None:
    admin = admin_client(kafka_config(settings))  # kept referenced until its futures complete
    if groups:
        for group, future in admin.delete_consumer_groups(groups, request_timeout=30).items():
            try:
                future.result(timeout=30)
            except Exception as exc:  # a group still closing: a harmless leftover
                print(f"consumer group {group} not deleted: {exc!r}")
