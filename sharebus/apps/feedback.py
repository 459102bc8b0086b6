"""The worker's quality rounds: every minute, today's and yesterday's problems of each resource,
from the metrics store the worker owns, as records on the departments' feedback topics; and the
30-day scorecard's summary the ops dashboard shows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from sharebus.catalog.models import Catalog
from sharebus.core.kafka_clients import Role, deliver, kafka_config
from sharebus.core.settings import Settings
from streams.metrics.quality_queries import feedback_plan, quality_plan
from streams.metrics.store import MetricsStore
from streams.objections import Objection
from streams.quality_feedback import Problem, changed, feedback_records
from streams.quality_score import scorecard_of, summary

PANEL_DAYS = 30
"""Days the dashboard's quality panel covers."""


class FeedbackPublisher:
    """Publishes the records whose value changed since it last published them (every record of the
    two days after a start: the topics are compacted, a repeated record replaces its equal). The
    figures are the stored ones, so a round Kafka refuses is simply taken again the next minute:
    nothing is lost, and the worker keeps routing."""

    def __init__(
        self,
        settings: Settings,
        store: MetricsStore,
        catalog: Callable[[], Catalog],
        objections: Callable[[], Iterable[Objection]] = lambda: (),
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.objections = objections  # the worker's book, for the panel's objections indicator
        self.producer = Producer(kafka_config(settings, Role.ROUTER) | {"enable.idempotence": True})
        self.published: dict[bytes, bytes] = {}
        self.panel: dict[str, Any] | None = None  # the dashboard's quality panel, as of the last round

    def publish(self, now: datetime | None = None) -> int:
        """One round: how many records were published."""
        report = feedback_plan(self.store.database, now or datetime.now(UTC)).run(self.store)
        records = feedback_records(self.catalog(), (Problem.of(r) for r in report["rows"]))
        fresh = changed(records, self.published)
        if fresh:
            deliver(
                self.producer,
                fresh,
                "the departments' quality feedback",
                f"{len(fresh)} records not acknowledged",
                fix="check the broker; the next round publishes them again",
            )
        # Only the two days' records are remembered: an older day's record is final.
        self.published = {key: value for _, value, key in records}
        return len(fresh)

    def summarise(self, now: datetime | None = None) -> dict[str, Any]:
        """The 30-day scorecard's summary (kept for the dashboard, which asks every few seconds)."""
        now = now or datetime.now(UTC)
        report = quality_plan(self.store.database, now, since=timedelta(days=PANEL_DAYS), daily="no").run(
            self.store
        )
        panel = summary(scorecard_of(self.catalog(), report, now, objections=self.objections()))
        self.panel = {"days": PANEL_DAYS, "at": now.isoformat(), **panel}
        return self.panel

    def close(self) -> None:
        self.producer.flush(5)
