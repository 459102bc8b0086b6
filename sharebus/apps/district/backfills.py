"""Backfill on policy changes: compare the reach of the policy in force with the reach recorded
last time, run the jobs that closes the gap, then record the new reach — once, or following the
catalog (a demand approved, a district added, a demand becoming valid with time)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sharebus.apps.district.backfill import BackfillRunner
from sharebus.apps.district.backfill_log import BackfillLog
from sharebus.apps.district.backfill_plan import BackfillJob, Reach, job_for, plan, reach_of
from sharebus.apps.district.live import LivePolicy
from sharebus.core.errors import ConfigError, SharebusError
from sharebus.core.follow import follow
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings


@dataclass
class Outcome:
    """What one pass did: whether it only recorded the reach, and each job's final state."""

    catalog_version: str
    baseline_recorded: bool = False
    jobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(j.get("state") == "done" for j in self.jobs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalog_version": self.catalog_version,
            "baseline_recorded": self.baseline_recorded,
            "ok": self.ok,
            "jobs": self.jobs,
        }


def _for_resource(reach: Mapping[str, Reach], resource: str) -> dict[str, Reach]:
    return {r.subscriber: r for r in reach.values() if r.resource == resource}


class Backfiller:
    """Plans and runs backfills against the live catalog; `grace`, `timeout` as BackfillRunner."""

    def __init__(self, settings: Settings, echo: Echo, *, grace: float = 3.0, timeout: float = 600.0) -> None:
        self.settings = settings
        self.echo = echo
        self.grace = grace
        self.timeout = timeout
        self.log = BackfillLog(settings)
        self.live = LivePolicy(settings)
        self._stop = threading.Event()

    def close(self) -> None:
        self.log.close()

    def stop(self) -> None:
        self._stop.set()

    def _run_jobs(
        self, runner: BackfillRunner, jobs: list[BackfillJob], reach: Mapping[str, Reach], outcome: Outcome
    ) -> set[str]:
        """Run `jobs`; the resources whose job did not finish."""
        unfinished: set[str] = set()
        for job in jobs:
            where = f" where {job.where}" if job.where else " (all rows)"
            subs = ", ".join(job.subscribers)
            self.echo(f"backfill {job.id}: {job.resource}{where} for {subs} ({job.reason})")
            try:
                state = runner.run(job, _for_resource(reach, job.resource))
            except SharebusError as exc:
                self.echo(f"  failed: {exc.problem}")
                outcome.jobs.append({**job.to_dict(), "state": "failed", "error": exc.render()})
                unfinished.add(job.resource)
                continue
            outcome.jobs.append(state)
            self.echo(
                f"  {state['state']}: {state.get('rows_scanned', 0)} rows scanned,"
                f" delivered {state.get('delivered')}"
            )
            if state["state"] != "done":
                unfinished.add(job.resource)
        return unfinished

    def once(self, now: datetime | None = None) -> Outcome:
        """One pass: without a recorded reach, record it (nothing to compare with yet)."""
        catalog, _ = self.live.catalog()
        policy = self.live.policy()
        new = reach_of(policy, now or datetime.now(UTC))
        old = self.log.reach(catalog.city.id)
        outcome = Outcome(policy.version)
        if old is None:
            self.log.put_reach(catalog.city.id, policy.version, new)
            outcome.baseline_recorded = True
            return outcome
        jobs = plan(old, new, policy)
        runner = BackfillRunner(
            self.settings, catalog, self.log, self.echo, grace=self.grace, timeout=self.timeout
        )
        unfinished = self._run_jobs(runner, jobs, new, outcome)
        recorded = {t: r for t, r in new.items() if r.resource not in unfinished}
        recorded.update({t: r for t, r in old.items() if r.resource in unfinished})  # retried next pass
        if jobs or recorded != old:
            self.log.put_reach(catalog.city.id, policy.version, recorded)
        return outcome

    def explicit(self, subscriber: str, resource: str, now: datetime | None = None) -> Outcome:
        """Give one subscriber all its current rows of one resource, whatever changed."""
        catalog, _ = self.live.catalog()
        policy = self.live.policy()
        at = now or datetime.now(UTC)
        job = job_for(policy, subscriber, resource, at)
        if job is None:
            raise ConfigError(
                f"subscriber {subscriber} on {resource}",
                "has no entitlement in force to backfill",
                expected="an approved (or, for unconditional resources, pending) demand valid now",
                actual=f"none in catalog {policy.version}",
                fix="approve the demand and publish the catalog first",
            )
        outcome = Outcome(policy.version)
        runner = BackfillRunner(self.settings, catalog, self.log, self.echo, grace=0.0, timeout=self.timeout)
        self._run_jobs(runner, [job], reach_of(policy, at), outcome)
        return outcome

    def follow(self, interval: float = 5.0) -> None:
        """Pass after pass until stopped: each catalog version and validity boundary is seen. A
        Kafka outage is waited out within SHAREBUS_KAFKA_OUTAGE_TOLERANCE (a pass that cannot
        reach Kafka is tried again); past it, its UnreachableError ends the follow."""

        def step() -> None:
            outcome = self.once()
            if outcome.baseline_recorded:
                self.echo(f"recorded the reach of catalog {outcome.catalog_version}; following changes")

        follow(self.settings, "backfill follower", step, self._stop, self.echo, interval)
