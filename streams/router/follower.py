"""A compacted topic a worker keeps in memory (the key index, the objections): read to its end
before routing starts (what a restart rebuilds from), then followed (what other workers write)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from sharebus.core.outage import KafkaWatch
from streams.router.config import RouterConfig

log = logging.getLogger(__name__)


Apply = Callable[[bytes | None, bytes | None], None]
"""What is done with each record: (key, value), the value None for a tombstone."""


class TopicFollower:
    """Applies each record of partition 0 of `topic` (`apply(key, value)`): `load` blocks until the
    records there when it was called are applied, then a thread follows the topic until `stop`.
    An outage is waited out within the worker's tolerance (`watch`)."""

    def __init__(
        self,
        config: RouterConfig,
        watch: KafkaWatch,
        topic: str,
        group: str,
        apply: Apply,
        fatal: Callable[[BaseException], None],
    ) -> None:
        self.topic = topic
        self.watch = watch
        self.apply = apply
        self.fatal = fatal
        self.applied = 0
        self._stop = threading.Event()
        self._consumer = Consumer(
            config.kafka.consumer(
                {
                    "group.id": group,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    **watch.client_config(),
                }
            )
        )
        self._thread = threading.Thread(target=self._run, name=group, daemon=True)

    def load(self) -> int:
        """Apply the topic up to its end as of now (an outage is waited out within the tolerance)."""
        tp = TopicPartition(self.topic, 0, 0)
        started = time.monotonic()
        end = self.watch.call(lambda: self._consumer.get_watermark_offsets(tp, timeout=10, cached=False))[1]
        self._consumer.assign([tp])
        position = 0
        while position < end:
            position = max(position, self._poll())
        if end:
            log.info("%s: %d records read in %.1f s", self.topic, self.applied, time.monotonic() - started)
        return self.applied

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _poll(self) -> int:
        """One poll: apply what came; the offset after it (0 when nothing came)."""
        self.watch.check()
        msg = self._consumer.poll(0.5)
        if msg is None:
            return 0
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                return msg.offset() or 0
            self.watch.failed(KafkaException(err))
            return 0
        self.apply(msg.key(), msg.value())
        self.applied += 1
        return (msg.offset() or 0) + 1

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll()
        except BaseException as exc:
            log.error("follower of %s failed: %s", self.topic, exc)
            self.fatal(exc)
        finally:
            self._consumer.close()
