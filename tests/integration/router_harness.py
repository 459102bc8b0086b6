"""Test harness for the router on the real stack: per-test catalogs and worker processes, and
readers of subscriber topics."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from sharebus.settings import Settings
from sharebus.stack.kafka import admin_client

SAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_catalog(
    root: Path, departments: dict[str, str], demands: list[dict[str, Any]] | None = None
) -> Path:
    """A copy of the Chongqing sample catalog under `root/chongqing`, department ids renamed per
    `departments` (old → new) so sources and topics are the test's own; `demands` replaces the
    demand list when given. Returns the catalog dir (SHAREBUS_CATALOG_DIR)."""
    city = root / "chongqing"
    city.mkdir(parents=True, exist_ok=True)
    for path in SAMPLE_CATALOG.iterdir():
        text = path.read_text()
        for old, new in departments.items():
            text = re.sub(rf"(?<![\w-]){re.escape(old)}(?=[.\s,\]}}]|$)", new, text, flags=re.M)
        (city / path.name).write_text(text)
    if demands is not None:
        set_demands(root, demands)
    return root


def set_demands(root: Path, demands: list[dict[str, Any]]) -> None:
    """Replace the demand list (JSON is YAML)."""
    (root / "chongqing" / "demands.yaml").write_text(
        json.dumps({"format": 1, "demands": demands}, ensure_ascii=False)
    )


@dataclass
class RouterProcess:
    """A `sharebus worker` subprocess with its own group, catalog topic and web port."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def settings(self) -> Settings:
        return Settings(
            **{k[len("SHAREBUS_") :].lower(): v for k, v in self.env.items() if k.startswith("SHAREBUS_")}
        )  # type: ignore[arg-type]

    def start(self, timeout: float = 90.0) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n--- start {self.starts}\n".encode())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sharebus", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        marker = "[^Worker]: Ready"
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if text.count(marker) >= self.starts:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no flush, no commit — what a crash looks like."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Read:
    key: Any
    value: Any
    headers: dict[str, bytes] = field(default_factory=dict)


def read_topic(
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[Read]], bool],
    decode: Callable[[bytes], Any] | None = None,
    timeout: float = 30.0,
) -> list[Read]:
    """Read `topic` from the beginning until `until(reads)` holds (or fail after `timeout`).
    Subscriber topics are decoded as districts do (confluent-kafka's AvroDeserializer with the
    registry), other topics' values stay bytes unless `decode` says otherwise."""
    if decode is None:
        decode = avro_decoder(settings, topic) if topic.startswith("share.") else (lambda b: b)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": "test-reader",
            "enable.auto.commit": False,
        }
    )
    reads: list[Read] = []
    try:
        deadline = time.monotonic() + timeout
        meta = None
        while meta is None:
            meta = admin_client(settings.kafka_bootstrap).list_topics(topic, timeout=5).topics.get(topic)
            if meta is not None and (meta.error is not None or not meta.partitions):
                meta = None
            if meta is None:
                assert time.monotonic() < deadline, f"topic {topic} does not exist"
                time.sleep(0.2)
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        while not until(reads):
            assert time.monotonic() < deadline, f"{topic}: condition not met in {timeout}s; read {len(reads)}"
            msg = consumer.poll(0.3)
            if msg is None or msg.error():
                continue
            value = msg.value()
            reads.append(
                Read(
                    json.loads(msg.key() or b"null"),
                    decode(value) if value is not None else None,
                    dict(msg.headers() or []),
                )
            )
        return reads
    finally:
        consumer.close()


def avro_decoder(settings: Settings, topic: str) -> Callable[[bytes], Any]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserialize = AvroDeserializer(SchemaRegistryClient({"url": settings.registry_url}))
    context = SerializationContext(topic, MessageField.VALUE)
    return lambda data: deserialize(data, context)


def topic_sizes(settings: Settings, prefix: str) -> dict[str, int]:
    """End offsets (message counts) of every topic whose name starts with `prefix`."""
    admin = admin_client(settings.kafka_bootstrap)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "test-sizes"})
    try:
        sizes = {}
        for name, meta in admin.list_topics(timeout=10).topics.items():
            if name.startswith(prefix):
                sizes[name] = sum(
                    consumer.get_watermark_offsets(TopicPartition(name, p), timeout=5)[1]
                    for p in meta.partitions
                )
        return sizes
    finally:
        consumer.close()


def keys_of(reads: Iterable[Read], field_name: str) -> set[Any]:
    return {r.key[field_name] for r in reads if isinstance(r.key, dict)}
