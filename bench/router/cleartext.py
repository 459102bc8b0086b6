"""A throwaway SASL_PLAINTEXT broker beside the local stack's: the TLS-off side of the router
benchmark, measured in the same run on the same machine, with the same jars, heap and records."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sharebus.core.settings import Settings
from sharebus.dev.stack.kafka import Kafka
from sharebus.dev.stack.layout import Layout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def cleartext_broker(settings: Settings, work: Path, echo: Callable[[str], None]) -> Iterator[Settings]:
    """Settings of a one-node KRaft broker started now with SASL_PLAINTEXT listeners (SCRAM logins,
    the bus's principals and their ACLs, as `stack up` makes them), stopped and removed on exit.
    Kafka refuses to add a listener to a running broker (advertised.listeners is static in KRaft),
    so the cleartext side is a broker of its own."""
    if not settings.kafka_tls:
        raise SystemExit("the TLS comparison needs TLS on (SHAREBUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL)")
    root = work / "cleartext-runtime"
    root.mkdir(parents=True, exist_ok=True)
    for shared in ("lib", "plugins"):  # the jars the stack fetched: no second download
        link = root / shared
        if not link.exists():
            link.symlink_to(Layout.of(settings).root / shared)
    clear = settings.model_copy(
        update={
            "runtime_dir": root,
            "kafka_brokers": 1,
            "kafka_bootstrap": f"127.0.0.1:{_free_port()}",
            "kafka_public_bootstrap": f"127.0.0.1:{_free_port()}",
            "kafka_controller_port": _free_port(),
            "kafka_security_protocol": "SASL_PLAINTEXT",
        }
    )
    layout = Layout.of(clear)
    layout.ensure()
    broker = Kafka(clear, layout)
    echo(f"starting a SASL_PLAINTEXT broker at {clear.kafka_bootstrap} (heap {clear.kafka_heap})…")
    try:
        broker.start(echo)
        yield clear
    finally:
        broker.stop()
        shutil.rmtree(layout.data, ignore_errors=True)
