"""Withheld-data decisions into the audit trail: per subscriber, resource and reason, every few seconds."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import faust

from sharebus.core.audit import POLICY_WITHHOLD, AuditEvent, AuditLog, event
from sharebus.core.kafka_clients import Role
from sharebus.core.settings import Settings
from streams.router.app import RouterService
from streams.router.batch import BatchOutput
from streams.router.records import RawRecord
from streams.router.worker import Fatal

WithheldKey = tuple[str, str, str, str]  # department, resource, subscriber, reason


class WithheldAudit:
    """A worker extension: counts withheld records as batches complete and writes them to the
    audit topic as the router principal at each checkpoint, before the batches' offsets are
    committed (one event per department, resource, subscriber and reason per checkpoint). A crash
    loses no count: uncommitted batches are routed and counted again. A failed write stops the
    worker (no silent gap); a Kafka outage is waited out within the tolerance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = AuditLog(settings, Role.ROUTER)
        self._lock = threading.Lock()
        self._pending: Counter[WithheldKey] = Counter()
        self._since = datetime.now(UTC)
        self._service: RouterService | None = None

    def attach(self, app: faust.App, service: RouterService, fatal: Fatal) -> None:
        self._service = service

    def on_records_read(self, records: list[RawRecord]) -> None:
        pass

    def on_batch_done(self, out: BatchOutput, delivered_at: float) -> None:
        held = [(k, agg.records) for k, agg in out.calls.items() if k.outcome == "withheld"]
        if held:
            with self._lock:
                for key, records in held:
                    self._pending[(key.department, key.resource, key.subscriber, key.reason)] += records

    def drain(self) -> list[AuditEvent]:
        """The events of everything counted since the last drain."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            since, self._since = self._since, datetime.now(UTC)
        version = self._service.policy.version if self._service is not None else None
        out: list[AuditEvent] = []
        for (dept, resource, subscriber, reason), count in sorted(pending.items()):
            detail = {"department": dept, "reason": reason, "since": since.isoformat()}
            held = event(
                self.settings,
                POLICY_WITHHOLD,
                subscriber or "*",
                resource,
                catalog_version=version,
                role=Role.ROUTER,
                count=count,
                detail=detail,
            )
            out.append(held)
        return out

    def persist(self) -> None:
        self.flush()

    def flush(self) -> int:
        watch = self._service.watch if self._service is not None else None
        return self.log.write(self.drain(), watch=watch)

    def close(self) -> None:
        self.flush()
