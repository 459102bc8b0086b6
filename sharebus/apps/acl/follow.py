"""`acl sync --follow`: the broker's ACLs kept equal to the live catalog's without a command — at
each published version, at each demand validity boundary (an expiry removes the access on time),
and every few minutes to repair drift. Runs as the admin: the router's login never alters ACLs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sharebus.apps.acl.sync import AclPlan, sync
from sharebus.apps.district.live import LivePolicy
from sharebus.catalog.endings import next_boundary
from sharebus.core.follow import follow
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

RESYNC = 300.0
"""Seconds between syncs when nothing changed (a grant removed by hand comes back)."""


class AclFollower:
    """Syncs the ACLs when the catalog or the clock changes what is in force."""

    def __init__(self, settings: Settings, echo: Echo, *, resync: float = RESYNC) -> None:
        self.settings = settings
        self.echo = echo
        self.resync = resync
        self.live = LivePolicy(settings)
        self.syncs = 0
        self._until: datetime | None = None  # the next validity boundary of the catalog synced
        self._synced = -float("inf")  # monotonic time of the last sync
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def once(self, now: datetime | None = None) -> AclPlan | None:
        """Sync if a version was published, a boundary passed or RESYNC elapsed; the changes
        (None: nothing was due)."""
        catalog, changed = self.live.catalog()
        now = now or datetime.now(UTC)
        passed = self._until is not None and now >= self._until
        if not (changed or passed or time.monotonic() - self._synced >= self.resync):
            return None
        changes = sync(self.settings, catalog, now=now)
        self._until = next_boundary(catalog, now)
        self._synced = time.monotonic()
        self.syncs += 1
        if changes.changed:
            why = f"catalog {catalog.version}" if changed else f"validity boundary {now.isoformat()}"
            self.echo(f"acl sync for {why}: {len(changes.add)} granted, {len(changes.remove)} removed")
        return changes

    def due_in(self) -> float | None:
        """Seconds to the next validity boundary (None: none ahead)."""
        if self._until is None:
            return None
        return (self._until - datetime.now(UTC)).total_seconds()

    def follow(self, interval: float = 2.0) -> None:
        """Pass after pass until stopped; a boundary is met on time, not at the next interval."""

        def step() -> float | None:
            self.once()
            return self.due_in()

        follow(self.settings, "acl follower", step, self._stop, self.echo, interval)
