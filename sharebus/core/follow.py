"""A pass repeated until stopped — the admin's followers of the live catalog and the clock (ACLs,
backfills): a Kafka outage is waited out within SHAREBUS_KAFKA_OUTAGE_TOLERANCE, said every 30 s;
past it, the UnreachableError ends the loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaException

from sharebus.core.errors import UnreachableError
from sharebus.core.kafka_clients import kafka_config
from sharebus.core.outage import KafkaWatch
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

Pass = Callable[[], float | None]
"""One pass; returns the seconds until it is due again (None: the loop's interval)."""
SAY_EVERY = 30.0


def follow(
    settings: Settings, component: str, step: Pass, stop: threading.Event, echo: Echo, interval: float
) -> None:
    """Run `step` every `interval` seconds (sooner when it says so) until `stop` is set."""
    watch = KafkaWatch(kafka_config(settings), settings.kafka_outage_tolerance, component=component)
    said = 0.0
    try:
        while not stop.is_set():
            try:
                due = step()
            except (KafkaException, UnreachableError) as exc:
                if isinstance(exc, KafkaException):
                    watch.failed(exc)
                else:
                    watch.suspect(exc.problem)
                watch.check()  # past the tolerance: raises
                if (status := watch.status()) is not None and time.monotonic() - said >= SAY_EVERY:
                    echo(f"{status}; {component} resumes when it is back")
                    said = time.monotonic()
                stop.wait(interval)
                continue
            watch.reachable()
            stop.wait(interval if due is None else max(0.05, min(interval, due)))
    finally:
        watch.close()
