"""librdkafka's own log lines: into the component's log (never a bare terminal), once per state."""

from __future__ import annotations

import logging
import re
import threading
import time

LIBRDKAFKA_FORMAT = "%s [%s] %s"
"""How confluent-kafka hands a librdkafka line to a `logger`: (facility, client name, text)."""

_TIMING = re.compile(r"\s*\(after \d+ms in state \w+(?:, \d+ identical error\(s\) suppressed)?\)")


class OncePerState(logging.Filter):
    """Lets a librdkafka line through once per `quiet_for` seconds per (facility, broker, text):
    a broker that stays down gives one line, not one per reconnect attempt. librdkafka's levels
    are lowered to WARNING at most: the component itself says, once, when Kafka is unreachable
    (sharebus.core.outage) and whether that is an error."""

    def __init__(self, quiet_for: float = 300.0) -> None:
        super().__init__()
        self.quiet_for = quiet_for
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg != LIBRDKAFKA_FORMAT or not isinstance(args, tuple) or len(args) != 3:
            return True
        facility, _client, text = args
        key = f"{facility}|{_TIMING.sub('', str(text))}"
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.quiet_for:
                return False
            if len(self._seen) > 1000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.quiet_for}
            self._seen[key] = now
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


CHATTER = logging.getLogger("sharebus.kafka.client")
"""The `logger` of every librdkafka client of the bus. It propagates to the component's log
handlers; with none configured (a CLI command) it goes nowhere, never to stderr."""
CHATTER.addFilter(OncePerState())
CHATTER.addHandler(logging.NullHandler())
