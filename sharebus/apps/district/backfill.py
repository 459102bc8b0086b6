"""Run a backfill: an incremental snapshot of the resource's source table (Debezium's signal,
with the subscribers' region condition) re-emits the current rows as `r` events, the router
routes them under the policy in force; tracked to delivery and recorded in the backfill log."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from connectors.client import ConnectClient
from connectors.registered import connector_config, spec_of, target_of
from connectors.snapshot import resnapshot
from connectors.sources import open_source
from sharebus.apps.district.backfill_log import BackfillLog
from sharebus.apps.district.backfill_plan import BackfillJob, Reach
from sharebus.apps.district.errors import BackfillError
from sharebus.apps.district.source_rows import count_by_region
from sharebus.catalog.models import Catalog, Resource
from sharebus.core import naming
from sharebus.core.errors import SharebusError
from sharebus.core.kafka_clients import Role, consumer_config, kafka_config
from sharebus.core.naming import H_OP, H_SHARE_RESOURCE
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

TERMINAL = frozenset({"done", "incomplete", "failed"})


def _consumer(settings: Settings, group: str) -> Consumer:
    return Consumer(
        consumer_config(
            settings,
            Role.ADMIN,
            {
                "group.id": group,
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )


def ends_of(consumer: Consumer, topic: str) -> dict[int, int]:
    """Each partition's end offset ({} for a topic that does not exist)."""
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None:
        return {}
    return {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
        for p in meta.partitions
    }


def wait_routed(settings: Settings, raw_topic: str, ends: Mapping[int, int], timeout: float) -> bool:
    """Block until the router's group committed every partition of `raw_topic` up to `ends`
    (it commits only what it delivered)."""
    consumer = _consumer(settings, settings.router_id)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            committed = consumer.committed([TopicPartition(raw_topic, p) for p in ends], timeout=10)
            if all(tp.offset >= ends[tp.partition] for tp in committed if ends[tp.partition] > 0):
                return True
            time.sleep(0.5)
        return False
    finally:
        consumer.close()


def count_snapshot_deliveries(
    settings: Settings, topic: str, resource: str, starts: Mapping[int, int]
) -> int:
    """Messages of op `r` (snapshot reads) of `resource` in `topic` from `starts` up to its end."""
    consumer = _consumer(settings, naming.BACKFILL_VERIFY_GROUP)
    try:
        ends = ends_of(consumer, topic)
        todo = {p: e for p, e in ends.items() if e > starts.get(p, 0)}
        if not todo:
            return 0
        consumer.assign([TopicPartition(topic, p, starts.get(p, 0)) for p in todo])
        count, deadline, wanted = 0, time.monotonic() + 60, resource.encode()
        while todo and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err, p = msg.error(), msg.partition()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF and p is not None:
                    todo.pop(p, None)
                continue
            headers = dict(msg.headers() or [])
            if headers.get(H_OP) == b"r" and headers.get(H_SHARE_RESOURCE) == wanted:
                count += 1
            if p is not None and (msg.offset() or 0) >= todo.get(p, 0) - 1:
                todo.pop(p, None)
        return count
    finally:
        consumer.close()


class BackfillRunner:
    """Runs jobs one after the other, recording each state change in the backfill log."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        log: BackfillLog,
        echo: Echo,
        *,
        grace: float = 3.0,
        timeout: float = 600.0,
        retries: int = 1,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.log = log
        self.echo = echo
        self.grace = grace
        self.timeout = timeout
        self.retries = retries

    def run(self, job: BackfillJob, reach: Mapping[str, Reach]) -> dict[str, Any]:
        """Run `job`; its final state (done or incomplete). A SharebusError (BackfillError,
        SnapshotError, an unreachable Connect or database) after recording the failure."""
        state: dict[str, Any] = {
            **job.to_dict(),
            "state": "planned",
            "created_at": time.time(),
            "attempts": 0,
            "error": None,
        }
        self.log.put_job(state)
        try:
            return self._run(job, reach, state)
        except SharebusError as exc:  # a snapshot aborted, Connect or the database unreachable…
            state.update(state="failed", error=exc.render())
            self.log.put_job(state)
            raise

    def _resource(self, job: BackfillJob) -> Resource:
        resource = self.catalog.resource(job.resource)
        if resource is None:
            raise BackfillError(
                f"backfill {job.id}",
                f"resource {job.resource} is not in the catalog",
                fix="plan backfills from the catalog in force",
            )
        return resource

    def _run(self, job: BackfillJob, reach: Mapping[str, Reach], state: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource(job)
        name = naming.connector_of_source(resource.source.connector)
        config = connector_config(ConnectClient.of(self.settings), name)
        spec = spec_of(name, config)
        target = target_of(spec, config, secrets_dir=self.settings.secrets_dir)
        if resource.source.table not in spec.tables:
            raise BackfillError(
                f"backfill {job.id}",
                f"{name} does not capture {resource.source.table}",
                expected=", ".join(spec.tables),
                actual=resource.source.table,
                fix="add the table to the connector: sharebus connectors add … --tables",
            )
        counts = count_by_region(target, resource, job.where)
        expected = {s: _expected(counts, reach.get(s)) for s in job.subscribers}
        state["expected"] = expected
        topics = {s: naming.share_topic(s, resource.department) for s in job.subscribers}
        verify = _consumer(self.settings, naming.BACKFILL_VERIFY_GROUP)
        try:
            for attempt in range(1, self.retries + 2):
                starts = {s: ends_of(verify, t) for s, t in topics.items()}
                state.update(state="waiting_policy", attempts=attempt)
                self.log.put_job(state)
                time.sleep(self.grace)  # the router swaps the policy within ~1 s of its publication
                state["state"] = "snapshotting"
                self.log.put_job(state)
                summary = resnapshot(
                    open_source(target),
                    spec,
                    kafka_config(self.settings),
                    resource.source.table,
                    job.where,
                    self.echo,
                    timeout=self.timeout,
                )
                state.update(
                    state="routing",
                    rows_scanned=sum(summary.rows.values()),
                    snapshot_seconds=round(summary.seconds, 2),
                )
                self.log.put_job(state)
                ends = ends_of(verify, resource.source.raw_topic)
                if not wait_routed(self.settings, resource.source.raw_topic, ends, self.timeout):
                    raise BackfillError(
                        f"backfill {job.id} of {job.resource}",
                        "the router has not routed the snapshot",
                        expected=f"group {self.settings.router_id} at {ends} on {resource.source.raw_topic}",
                        actual=f"not within {self.timeout:.0f}s",
                        fix="check the worker runs (`sharebus run` / `sharebus worker`) and its lag",
                    )
                delivered = {
                    s: count_snapshot_deliveries(self.settings, topic, job.resource, starts[s])
                    for s, topic in topics.items()
                }
                state["delivered"] = delivered
                short = [s for s in topics if expected[s] > 0 and delivered[s] == 0]
                if not short:
                    break
                self.echo(
                    f"  {', '.join(short)} received none of their rows: the router may have routed"
                    " under the previous policy; snapshotting again"
                )
        finally:
            verify.close()
        state.update(
            state="incomplete" if short else "done",
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if short:
            state["error"] = f"no rows delivered to {', '.join(short)} (expected {expected})"
        self.log.put_job(state)
        return state


def _expected(counts: Mapping[str | None, int], reach: Reach | None) -> int:
    """Source rows the snapshot reads that fall in a subscriber's reach."""
    if reach is None:
        return 0
    if reach.codes is None:
        return sum(counts.values())
    return sum(n for code, n in counts.items() if code in reach.codes)
